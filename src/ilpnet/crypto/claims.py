"""Payment-channel claims: ed25519 signatures over (channel id, cumulative amount).

The signed message is, byte for byte::

    b"ilpnet.claim.v1" || var_octets(utf8(channel_id)) || uint64_be(cumulative_amount)

`var_octets` is the OER length-prefixed octet string (spec 00). The sender signs with its
ed25519 private key; the ledger verifies with the 32-byte raw public key given when the
channel was opened. A signature is 64 raw bytes (hex on the ledger's JSON API).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ilpnet.wire.errors import InvalidValueError
from ilpnet.wire.oer import UINT64_MAX, encode_uint, encode_var_octets

CLAIM_DOMAIN = b"ilpnet.claim.v1"
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def claim_message(channel_id: str, amount: int) -> bytes:
    """The exact bytes a claim signature covers."""
    if not channel_id:
        raise InvalidValueError("claim channel id is empty")
    if not 0 <= amount <= UINT64_MAX:
        raise InvalidValueError(f"claim amount out of range amount={amount}")
    return (
        CLAIM_DOMAIN
        + encode_var_octets(channel_id.encode("utf-8"))
        + encode_uint(amount, 8, "claim amount")
    )


def sign_claim(private_key: Ed25519PrivateKey, channel_id: str, amount: int) -> bytes:
    """Sign that `amount` (cumulative, smallest units) of `channel_id` is owed to the receiver."""
    return private_key.sign(claim_message(channel_id, amount))


def verify_claim(public_key: bytes, channel_id: str, amount: int, signature: bytes) -> bool:
    """True when `signature` is the channel key's signature of this exact claim."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(signature, claim_message(channel_id, amount))
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public half, as a channel is opened with."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_claim_key() -> Ed25519PrivateKey:
    """A fresh ed25519 key for a new channel."""
    return Ed25519PrivateKey.generate()
