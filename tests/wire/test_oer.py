"""OER primitives and timestamps against the shared vectors, plus property tests."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.oer import (
    Reader,
    decode_ilp_timestamp,
    encode_generalized_time,
    encode_ilp_timestamp,
    encode_length,
    encode_uint,
    encode_var_octets,
    encode_var_uint,
    read_generalized_time,
)
from tests.spec_vectors import Vector, load_vectors

FIXED = {"uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8}


def _decode_primitive(kind: str, raw: bytes) -> object:
    r = Reader(raw)
    value: object
    if kind == "length_determinant":
        value = r.read_length(bounded=False)
    elif kind == "var_uint":
        value = r.read_var_uint()
    elif kind in FIXED:
        value = int.from_bytes(r.read_bytes(FIXED[kind]), "big")
    elif kind == "var_octet_string":
        value = r.read_var_octets()
    elif kind == "ilp_address":
        value = r.read_ascii()
    else:  # pragma: no cover - a new kind in the vectors must be handled here
        raise AssertionError(f"unknown vector kind {kind}")
    assert r.remaining == 0, "decoder left bytes unread"
    return value


def _encode_primitive(kind: str, value: str) -> bytes:
    if kind == "length_determinant":
        return encode_length(int(value))
    if kind == "var_uint":
        return encode_var_uint(int(value))
    if kind in FIXED:
        return encode_uint(int(value), FIXED[kind])
    if kind == "var_octet_string":
        return encode_var_octets(bytes.fromhex(value))
    return encode_var_octets(value.encode("ascii"))


def _expected(kind: str, value: str) -> object:
    if kind == "var_octet_string":
        return bytes.fromhex(value)
    if kind == "ilp_address":
        return value
    return int(value)


@pytest.mark.parametrize("v", load_vectors("oer_primitives.json"))
def test_oer_primitive_vector(v: Vector) -> None:
    kind, raw = v["fields"]["kind"], bytes.fromhex(v["hex"])
    if v.get("expect_error"):
        with pytest.raises(DecodeError):
            _decode_primitive(kind, raw)
        return
    assert _decode_primitive(kind, raw) == _expected(kind, v["fields"]["value"])
    if not v.get("decode_only"):
        assert _encode_primitive(kind, v["fields"]["value"]) == raw


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("v", load_vectors("timestamps.json"))
def test_timestamp_vector(v: Vector) -> None:
    raw = bytes.fromhex(v["hex"])
    kind = v["fields"]["kind"]
    if kind == "ilp_timestamp":
        if v.get("expect_error"):
            with pytest.raises(DecodeError):
                decode_ilp_timestamp(raw)
            return
        want = _iso(v["fields"]["iso"])
        assert decode_ilp_timestamp(raw) == want
        if not v.get("decode_only"):
            assert encode_ilp_timestamp(want) == raw
        return
    assert kind == "generalized_time"
    if v.get("expect_error"):
        with pytest.raises(DecodeError):
            read_generalized_time(Reader(raw))
        return
    want = _iso(v["fields"]["iso"])
    assert read_generalized_time(Reader(raw)) == want
    if not v.get("decode_only"):
        assert encode_generalized_time(want) == raw


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_var_uint_round_trip(n: int) -> None:
    r = Reader(encode_var_uint(n))
    assert r.read_var_uint() == n
    assert r.remaining == 0


@given(st.integers(min_value=0, max_value=2**40))
def test_length_round_trip(n: int) -> None:
    assert Reader(encode_length(n)).read_length(bounded=False) == n


@given(st.binary(max_size=400))
def test_var_octets_round_trip(b: bytes) -> None:
    assert Reader(encode_var_octets(b)).read_var_octets() == b


@given(st.binary(max_size=64))
def test_garbage_raises_only_decode_error(b: bytes) -> None:
    for read in (Reader.read_var_uint, Reader.read_var_octets, Reader.read_uint64):
        with contextlib.suppress(DecodeError):
            read(Reader(b))
    with contextlib.suppress(DecodeError):
        decode_ilp_timestamp(b)
    with contextlib.suppress(DecodeError):
        read_generalized_time(Reader(b))


def test_length_determinant_must_fit() -> None:
    with pytest.raises(DecodeError, match="offset=0"):
        Reader(b"\x05ab").read_var_octets()


def test_uint_out_of_range_is_invalid_value() -> None:
    with pytest.raises(InvalidValueError):
        encode_uint(2**64, 8)
    with pytest.raises(InvalidValueError):
        encode_var_uint(-1)


def test_naive_datetime_refused() -> None:
    with pytest.raises(InvalidValueError):
        encode_ilp_timestamp(datetime(2020, 1, 1))  # noqa: DTZ001
    assert encode_ilp_timestamp(datetime(2020, 1, 1, tzinfo=UTC)) == b"20200101000000000"
