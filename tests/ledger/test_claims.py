"""Claim signatures (ilpnet.crypto.claims): the exact message and verification."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.crypto.claims import (
    claim_message,
    generate_claim_key,
    public_key_bytes,
    sign_claim,
    verify_claim,
)
from ilpnet.wire.errors import InvalidValueError

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_message_layout() -> None:
    msg = claim_message("ab12", 258)
    assert msg == b"ilpnet.claim.v1" + b"\x04ab12" + bytes([0, 0, 0, 0, 0, 0, 1, 2])


def test_sign_and_verify() -> None:
    pub = public_key_bytes(KEY)
    sig = sign_claim(KEY, "chan", 42)
    assert len(pub) == 32
    assert len(sig) == 64
    assert verify_claim(pub, "chan", 42, sig)
    assert not verify_claim(pub, "chan", 43, sig)
    assert not verify_claim(pub, "chan2", 42, sig)
    assert not verify_claim(public_key_bytes(generate_claim_key()), "chan", 42, sig)
    assert not verify_claim(pub[:31], "chan", 42, sig)
    assert not verify_claim(pub, "chan", 42, sig[:63])


@pytest.mark.parametrize(("channel", "amount"), [("", 1), ("c", -1), ("c", 2**64)])
def test_bad_claims_cannot_be_signed(channel: str, amount: int) -> None:
    with pytest.raises(InvalidValueError):
        sign_claim(KEY, channel, amount)


@settings(max_examples=50)
@given(
    st.text(min_size=1, max_size=40), st.integers(0, 2**64 - 1), st.binary(min_size=64, max_size=64)
)
def test_random_signatures_do_not_verify(channel: str, amount: int, sig: bytes) -> None:
    pub = public_key_bytes(KEY)
    assert verify_claim(pub, channel, amount, sign_claim(KEY, channel, amount))
    assert not verify_claim(pub, channel, amount, sig)
