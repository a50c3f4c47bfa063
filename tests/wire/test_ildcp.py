"""ILDCP request/response/error against the shared vectors, plus property tests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.wire.errors import DecodeError, ErrorCode, InvalidValueError
from ilpnet.wire.ildcp import (
    PEER_CONFIG,
    PEER_PROTOCOL_CONDITION,
    PEER_PROTOCOL_FULFILLMENT,
    IldcpRequest,
    IldcpResponse,
    ildcp_reject,
)
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.spec_vectors import Vector, load_vectors

EXPIRY = datetime(2015, 6, 16, 0, 1, tzinfo=UTC)


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize("v", load_vectors("ildcp.json"))
def test_ildcp_vector(v: Vector) -> None:
    raw, f = bytes.fromhex(v["hex"]), v["fields"]
    assert not v.get("expect_error")  # the file has none; they would need handling here
    if f["msg_type"] == "request":
        request = IldcpRequest(_iso(f["expiresAt"]))
        assert IldcpRequest.decode_prepare(raw) == request
        prepare = Prepare.decode(raw)
        assert prepare.amount == int(f["amount"])
        assert prepare.execution_condition.hex() == f["executionCondition"]
        assert prepare.destination == f["destination"] == PEER_CONFIG
        assert prepare.data.hex() == f["data"]
        assert request.to_prepare() == prepare
        if not v.get("decode_only"):
            assert request.encode_prepare() == raw
    elif f["msg_type"] == "response":
        response = IldcpResponse(f["clientAddress"], f["assetScale"], f["assetCode"])
        assert IldcpResponse.decode_fulfill(raw) == response
        assert IldcpResponse.decode(bytes.fromhex(f["data"])) == response
        fulfill = Fulfill.decode(raw)
        assert fulfill.fulfillment.hex() == f["fulfillment"]
        assert IldcpResponse.from_fulfill(fulfill) == response
        if not v.get("decode_only"):
            assert response.encode().hex() == f["data"]
            assert response.encode_fulfill() == raw
    else:
        assert f["msg_type"] == "error"
        reject = ildcp_reject(f["triggeredBy"], f["message"], ErrorCode(f["code"]))
        assert reject.data.hex() == f["data"]
        assert Reject.decode(raw) == reject
        if not v.get("decode_only"):
            assert reject.encode() == raw


def test_peer_protocol_constants() -> None:
    assert bytes(32) == PEER_PROTOCOL_FULFILLMENT
    assert hashlib.sha256(bytes(32)).digest() == PEER_PROTOCOL_CONDITION
    assert PEER_PROTOCOL_CONDITION.hex() == (
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    )
    assert base64.b64encode(PEER_PROTOCOL_CONDITION) == (
        b"Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU="
    )


def test_request_expiring_uses_the_reference_timeout() -> None:
    now = datetime(2015, 6, 16, 0, 0, 0, 999_999, tzinfo=UTC)
    request = IldcpRequest.expiring(now)
    assert request.expires_at == datetime(2015, 6, 16, 0, 1, 0, 999_000, tzinfo=UTC)
    assert IldcpRequest.expiring(now, timedelta(seconds=5)).expires_at.second == 5


def test_default_reject_code_is_f00() -> None:
    reject = ildcp_reject("test.parent", "no such child")
    assert reject.code == ErrorCode.F00_BAD_REQUEST
    assert reject.data == b""


# ---- refusals ------------------------------------------------------------------------


def test_request_to_wrong_destination_is_refused() -> None:
    prepare = Prepare(0, EXPIRY, PEER_PROTOCOL_CONDITION, "peer.route.control")
    with pytest.raises(DecodeError, match=r"peer\.config"):
        IldcpRequest.from_prepare(prepare)
    with pytest.raises(DecodeError, match=r"peer\.config"):
        IldcpRequest.decode_prepare(prepare.encode())


def test_request_with_wrong_condition_is_refused() -> None:
    prepare = Prepare(0, EXPIRY, bytes(32), PEER_CONFIG)
    with pytest.raises(DecodeError, match="peer-protocol condition"):
        IldcpRequest.decode_prepare(prepare.encode())


def test_request_ignores_amount_and_data() -> None:
    prepare = Prepare(5, EXPIRY, PEER_PROTOCOL_CONDITION, PEER_CONFIG, b"future")
    assert IldcpRequest.from_prepare(prepare) == IldcpRequest(EXPIRY)


def test_response_with_nonzero_fulfillment_is_refused() -> None:
    data = IldcpResponse("test.a.b", 9, "USD").encode()
    with pytest.raises(DecodeError, match="zero fulfillment"):
        IldcpResponse.decode_fulfill(Fulfill(b"\x01" * 32, data).encode())


def test_response_decoder_refuses_a_reject() -> None:
    with pytest.raises(DecodeError):
        IldcpResponse.decode_fulfill(ildcp_reject("test.parent", "no").encode())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "clientAddress"),
        (b"\x08test.a.b", "assetScale"),
        (b"\x08test.a.b\x09", "assetCode"),
        (b"\x08test.a.b\x09\x03US", "assetCode"),
        (b"\x04test\x09\x03USD", "invalid ILP address"),
        (b"\x08test..ab\x09\x03USD", "invalid ILP address"),
        (b"\x08test.a\xc3\xa9\x09\x03USD", "not ASCII"),
        (b"\x08test.a.b\x09\x02\xc3\x28", "UTF-8"),
    ],
)
def test_malformed_response_data_is_refused(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        IldcpResponse.decode(data)


def test_response_data_ignores_future_fields() -> None:
    data = IldcpResponse("test.a.b", 9, "USD").encode() + b"\x01\x02"
    assert IldcpResponse.decode(data) == IldcpResponse("test.a.b", 9, "USD")


@pytest.mark.parametrize(
    ("address", "scale", "code"),
    [
        ("test", 9, "USD"),
        ("bogus.a", 9, "USD"),
        ("test.a", 256, "USD"),
        ("test.a", -1, "USD"),
        ("test.a", True, "USD"),
        ("test.a", 9, b"USD"),
    ],
)
def test_invalid_response_values_are_refused(address: str, scale: int, code: str) -> None:
    with pytest.raises(InvalidValueError):
        IldcpResponse(address, scale, code)


def test_naive_expiry_is_refused() -> None:
    with pytest.raises(InvalidValueError, match="timezone-aware"):
        IldcpRequest(datetime(2020, 1, 1))  # noqa: DTZ001


# ---- properties ----------------------------------------------------------------------

segments = st.text("abcxyzABC019_~-", min_size=1, max_size=6)
addresses = st.builds(
    lambda scheme, segs: ".".join([scheme, *segs]),
    st.sampled_from(["test", "g", "private", "example", "local", "test1"]),
    st.lists(segments, min_size=1, max_size=3),
)
responses = st.builds(IldcpResponse, addresses, st.integers(0, 255), st.text(max_size=6))
times = st.datetimes(timezones=st.just(UTC))


@settings(max_examples=200)
@given(responses)
def test_response_round_trip(response: IldcpResponse) -> None:
    assert IldcpResponse.decode(response.encode()) == response
    assert IldcpResponse.decode_fulfill(response.encode_fulfill()) == response


@settings(max_examples=100)
@given(times)
def test_request_round_trip(expires_at: datetime) -> None:
    request = IldcpRequest(expires_at)
    assert IldcpRequest.decode_prepare(request.encode_prepare()) == request


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(raw: bytes) -> None:
    for decode in (IldcpResponse.decode, IldcpResponse.decode_fulfill, IldcpRequest.decode_prepare):
        with contextlib.suppress(DecodeError):
            decode(raw)


@settings(max_examples=300)
@given(responses, st.data())
def test_mutated_responses_raise_only_decode_error(
    response: IldcpResponse, data: st.DataObject
) -> None:
    for raw in (response.encode(), response.encode_fulfill()):
        mutated = bytearray(raw)
        i = data.draw(st.integers(0, len(mutated) - 1))
        if data.draw(st.booleans()):
            mutated[i] ^= data.draw(st.integers(1, 255))
        else:
            del mutated[i:]
        with contextlib.suppress(DecodeError):
            got = IldcpResponse.decode(bytes(mutated))
            assert IldcpResponse.decode(got.encode()) == got
        with contextlib.suppress(DecodeError):
            IldcpResponse.decode_fulfill(bytes(mutated))
