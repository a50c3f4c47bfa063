"""Hashlock conditions: SHA-256 of the fulfillment, constant-time matching."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.crypto.condition import (
    condition_of,
    fulfillment_matches,
    random_condition,
)
from tests.spec_vectors import Vector, load_vectors

CONDITION_VECTORS = [
    p
    for p in load_vectors("stream_crypto.json")
    if p.values[0] is None or p.values[0]["fields"]["kind"] == "condition"
]


@pytest.mark.parametrize("v", CONDITION_VECTORS)
def test_condition_vectors(v: Vector) -> None:
    fulfillment = bytes.fromhex(v["fields"]["fulfillment"])
    condition = bytes.fromhex(v["hex"])
    assert condition_of(fulfillment) == condition
    assert fulfillment_matches(fulfillment, condition)


def test_zero_fulfillment() -> None:
    # the fixed condition of peer protocols (ILDCP, CCP) is SHA-256 of 32 zero bytes
    assert condition_of(bytes(32)).hex() == (
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    )


@settings(max_examples=50)
@given(st.binary(min_size=32, max_size=32), st.integers(0, 255))
def test_matches_only_the_preimage(fulfillment: bytes, bit: int) -> None:
    condition = condition_of(fulfillment)
    assert fulfillment_matches(fulfillment, condition)
    other = bytearray(fulfillment)
    other[bit // 8] ^= 1 << (bit % 8)
    assert not fulfillment_matches(bytes(other), condition)
    assert not fulfillment_matches(condition, condition)


def test_wrong_lengths_never_match() -> None:
    fulfillment = b"\x07" * 32
    condition = condition_of(fulfillment)
    assert not fulfillment_matches(fulfillment[:31], condition)
    assert not fulfillment_matches(fulfillment + b"\x00", condition)
    assert not fulfillment_matches(fulfillment, condition[:31])
    assert not fulfillment_matches(b"", b"")


def test_random_condition() -> None:
    a, b = random_condition(), random_condition()
    assert len(a) == len(b) == 32
    assert a != b
