"""Receive keys: the receiver recomputes each payment's fulfillment from the Prepare alone."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.crypto.receive_keys import (
    PAYMENT_ID_LENGTH,
    condition_for,
    fulfillment_for,
    payment_data,
    payment_id_of,
    receive_key_from_secret,
)

keys = st.binary(min_size=32, max_size=32)
pids = st.binary(min_size=PAYMENT_ID_LENGTH, max_size=PAYMENT_ID_LENGTH)


@settings(max_examples=50)
@given(keys, pids)
def test_payment_id_round_trips_through_the_data_and_releases_the_condition(
    key: bytes, pid: bytes
) -> None:
    address = "test.usd.bob"
    assert payment_id_of(payment_data(pid)) == pid
    fulfillment = fulfillment_for(key, address, pid)
    assert hashlib.sha256(fulfillment).digest() == condition_for(key, address, pid)


@settings(max_examples=50)
@given(keys, pids)
def test_another_address_or_key_gives_another_condition(key: bytes, pid: bytes) -> None:
    condition = condition_for(key, "test.usd.bob", pid)
    assert condition != condition_for(key, "test.usd.bobby", pid)
    assert condition != condition_for(bytes(b ^ 1 for b in key), "test.usd.bob", pid)


@settings(max_examples=100)
@given(st.binary(max_size=64))
def test_other_data_names_no_payment(data: bytes) -> None:
    pid = payment_id_of(data)
    assert pid is None or payment_data(pid) == data.lower()


def test_malformed_payment_data() -> None:
    assert payment_id_of(b"escrow-pay:" + b"ab" * 15) is None  # too short
    assert payment_id_of(b"escrow-pay:" + b"zz" * 16) is None  # not hex
    assert payment_id_of(b"ESCROW-PAY:" + b"ab" * 16) is None
    assert payment_id_of(b"escrow-pay:" + b"ab" * 16) == bytes([0xAB]) * 16


def test_receive_key_is_a_one_way_function_of_the_secret() -> None:
    key = receive_key_from_secret("bob-secret")
    assert len(key) == 32
    assert key == receive_key_from_secret("bob-secret")
    assert key != receive_key_from_secret("bob-secret2")
    assert b"bob-secret" not in key
