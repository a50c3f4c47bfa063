"""BTP 2.0 packets against the shared vectors, link helpers, and property tests."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.wire.btp import (
    AUTH_TOKEN,
    BTP_ERROR_NAMES,
    MAX_ERROR_DATA,
    AuthRefused,
    BtpErrorCode,
    BtpPacket,
    BtpType,
    ContentType,
    Error,
    LegacyFulfill,
    LegacyPrepare,
    LegacyReject,
    Message,
    ProtocolData,
    Response,
    Transfer,
    auth_message,
    decode_btp,
    error_for,
    find_ilp,
    find_protocol_data,
    ilp_message,
    ilp_response,
    is_request,
    read_auth,
)
from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.oer import encode_var_octets
from tests.spec_vectors import Vector, load_vectors

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

TYPE_NAMES: dict[str, type[BtpPacket]] = {
    "Response": Response,
    "Error": Error,
    "Prepare": LegacyPrepare,
    "Fulfill": LegacyFulfill,
    "Reject": LegacyReject,
    "Message": Message,
    "Transfer": Transfer,
}


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _entries(fields: dict[str, Any]) -> tuple[ProtocolData, ...]:
    return tuple(
        ProtocolData(e["protocolName"], ContentType(e["contentType"]), bytes.fromhex(e["data"]))
        for e in fields["protocolData"]
    )


def btp_from(f: dict[str, Any]) -> BtpPacket:
    """The packet a vector's `fields` describe."""
    rid, entries = f["requestId"], _entries(f)
    cls = TYPE_NAMES[f["typeName"]]
    assert f["type"] == cls.TYPE
    if cls is Error:
        triggered = _iso(f["triggeredAt"])
        return Error(rid, f["code"], f["name"], triggered, bytes.fromhex(f["data"]), entries)
    if cls is Transfer:
        return Transfer(rid, int(f["amount"]), entries)
    if cls is LegacyPrepare:
        return LegacyPrepare(
            rid,
            UUID(f["transferId"]),
            int(f["amount"]),
            bytes.fromhex(f["executionCondition"]),
            _iso(f["expiresAt"]),
            entries,
        )
    if cls is LegacyFulfill:
        fulfillment = bytes.fromhex(f["fulfillment"])
        return LegacyFulfill(rid, UUID(f["transferId"]), fulfillment, entries)
    if cls is LegacyReject:
        return LegacyReject(rid, UUID(f["transferId"]), entries)
    if cls is Response:
        return Response(rid, entries)
    return Message(rid, entries)


@pytest.mark.parametrize("v", load_vectors("btp.json"))
def test_btp_vector(v: Vector) -> None:
    raw = bytes.fromhex(v["hex"])
    if v.get("expect_error"):
        with pytest.raises(DecodeError):
            decode_btp(raw)
        return
    want = btp_from(v["fields"])
    got = decode_btp(raw)
    assert got == want
    assert type(want).decode(raw) == want
    if not v.get("decode_only"):
        assert want.encode() == raw


# ---- link helpers --------------------------------------------------------------------


def _vector(description_start: str) -> Vector:
    for param in load_vectors("btp.json"):
        v = param.values[0]
        if v is None:
            pytest.skip("shared vectors missing")
        if v["description"].startswith(description_start):
            return dict(v)
    raise AssertionError(f"no vector {description_start!r}")


def test_auth_message_matches_reference_bytes() -> None:
    v = _vector("BTP auth Message (client -> server)")
    msg = auth_message(0xABCDEF01, "s3cr3t-t0ken", username="alice")
    assert msg.encode().hex() == v["hex"]
    creds = read_auth(decode_btp(bytes.fromhex(v["hex"])))
    assert (creds.username, creds.token) == ("alice", "s3cr3t-t0ken")
    assert "s3cr3t" not in repr(creds)


def test_auth_message_with_only_empty_token() -> None:
    v = _vector("BTP auth Message with only an empty auth_token")
    assert auth_message(1, "").encode().hex() == v["hex"]
    creds = read_auth(decode_btp(bytes.fromhex(v["hex"])))
    assert (creds.username, creds.token) == (None, "")


AUTH = ProtocolData.octets("auth", b"")
TOKEN = ProtocolData.text(AUTH_TOKEN, "t")


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (Response(1, (AUTH, TOKEN)), "must be a Message"),
        (Message(1, ()), "primary"),
        (Message(1, (TOKEN, AUTH)), "primary"),
        (Message(1, (AUTH, TOKEN, TOKEN)), "duplicate"),
        (Message(1, (AUTH, ProtocolData.text("auth_username", "bob"))), "auth_token"),
        (Message(1, (AUTH, ProtocolData.octets(AUTH_TOKEN, b"\xff"))), "UTF-8"),
    ],
)
def test_read_auth_refuses(packet: BtpPacket, reason: str) -> None:
    with pytest.raises(AuthRefused, match=reason) as info:
        read_auth(packet)
    assert info.value.btp_code is BtpErrorCode.F00_NOT_ACCEPTED


def test_error_for_matches_reference_auth_rejection() -> None:
    v = _vector("BTP auth rejected")
    at = datetime(2021, 6, 1, 10, tzinfo=UTC)
    err = error_for(0xABCDEF01, BtpErrorCode.F00_NOT_ACCEPTED, at, b"invalid auth_token")
    assert err.encode().hex() == v["hex"]
    assert err.name == "NotAcceptedError"


def test_ilp_message_and_response_match_vectors() -> None:
    msg_v = _vector("BTP Message carrying an ILP Prepare")
    prepare = bytes.fromhex(msg_v["fields"]["protocolData"][0]["data"])
    assert ilp_message(42, prepare).encode().hex() == msg_v["hex"]
    assert find_ilp(decode_btp(bytes.fromhex(msg_v["hex"]))) == prepare

    resp_v = _vector("BTP Response carrying the ILP Fulfill")
    fulfill = bytes.fromhex(resp_v["fields"]["protocolData"][0]["data"])
    response = ilp_response(42, fulfill)
    assert response.encode().hex() == resp_v["hex"]
    assert find_ilp(response) == fulfill
    assert not is_request(response)
    assert is_request(ilp_message(1, b""))


def test_find_protocol_data() -> None:
    packet = Message(1, (ProtocolData.octets("a", b"1"), ProtocolData.text("b", "zwei")))
    found = find_protocol_data(packet, "b")
    assert found is not None
    assert found.decode_text() == "zwei"
    assert found.content_type is ContentType.TEXT
    assert find_protocol_data(packet, "c") is None
    assert find_ilp(packet) is None


def test_error_code_table() -> None:
    assert set(BTP_ERROR_NAMES) == set(BtpErrorCode)
    assert BtpErrorCode.T00_UNREACHABLE.retryable
    assert not BtpErrorCode.F08_INSUFFICIENT_BALANCE.retryable
    assert BtpErrorCode("F05").error_name == "DuplicateIdError"


def test_times_are_normalised_to_utc_milliseconds() -> None:
    plus_two = timezone(timedelta(hours=2))
    err = Error(1, "F00", "x", datetime(2021, 6, 1, 12, 0, 0, 123_456, tzinfo=plus_two))
    assert err.triggered_at == datetime(2021, 6, 1, 10, 0, 0, 123_000, tzinfo=UTC)
    assert decode_btp(err.encode()) == err


# ---- construction checks -------------------------------------------------------------

AT = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Message(-1),
        lambda: Message(UINT32_MAX + 1),
        lambda: Message(1, [ProtocolData.octets("x", b"")]),  # type: ignore[arg-type]
        lambda: Transfer(1, UINT64_MAX + 1),
        lambda: Transfer(1, -1),
        lambda: ProtocolData("é", ContentType.TEXT, b""),
        lambda: ProtocolData("x", 3, b""),  # type: ignore[arg-type]
        lambda: ProtocolData("x", ContentType.TEXT, "text"),  # type: ignore[arg-type]
        lambda: Error(1, "F0", "x", AT),
        lambda: Error(1, "F00", "x", datetime(2020, 1, 1)),  # noqa: DTZ001
        lambda: Error(1, "F00", "x", AT, bytes(MAX_ERROR_DATA + 1)),
        lambda: LegacyPrepare(1, UUID(int=1), 0, bytes(31), AT),
        lambda: LegacyFulfill(1, "not-a-uuid", bytes(32)),  # type: ignore[arg-type]
    ],
)
def test_invalid_values_are_refused(build: Any) -> None:
    with pytest.raises(InvalidValueError):
        build()


# ---- malformed input -------------------------------------------------------------------


def _error_raw(
    code: bytes = b"F00",
    name: bytes = b"x",
    triggered_at: bytes = b"20200101000000.000Z",
    data: bytes = b"",
) -> bytes:
    """An Error packet laid out by hand, so that invalid fields can be written."""
    content = b"".join(
        (code, encode_var_octets(name), encode_var_octets(triggered_at)),
    )
    content += encode_var_octets(data) + b"\x01\x00"
    return b"\x02" + (1).to_bytes(4, "big") + encode_var_octets(content)


def _error_hex(**kwargs: bytes) -> str:
    return _error_raw(**kwargs).hex()


@pytest.mark.parametrize(
    "hex_",
    [
        "",  # nothing
        "06",  # no request id
        "0600000001",  # no content
        "0600000001020100ff",  # a byte after the packet
        "0800000001020100",  # unknown type 8
        "0000000001020100",  # unknown type 0
        "06000000010101",  # content shorter than the count needs
        "0600000001050200010000",  # count 1 written with a leading zero
        "0600000001020000",  # zero-length count
        "060000000103017f00",  # count 127, no room for the entries
        "06000000010701010161030000",  # content type 3
        "0600000001070101016100050a",  # data length past the end
        "06000000018106010101610000",  # long-form content length below 128
        "0600000001080101028161000000",  # non-ASCII protocol name
        _error_hex(code=b"\xe8\xe8\xe8"),  # code not ASCII
        _error_hex(triggered_at=b"20201301120000.000Z"),  # month 13
        _error_hex(triggered_at=b"20200101240000.000Z"),  # hour 24
        _error_hex(triggered_at=b"20200101000000.000"),  # no Z
        _error_hex(triggered_at=b"20200101000000.0000Z"),  # four fraction digits
        _error_hex(name=b"\x80"),  # name not ASCII
        "070000000105" + "0000000001",  # amount cut short
        "0300000001" + "10" + "00" * 16,  # legacy prepare cut after the transfer id
    ],
)
def test_malformed_packets_raise_decode_error(hex_: str) -> None:
    with pytest.raises(DecodeError):
        decode_btp(bytes.fromhex(hex_))


def test_error_data_over_limit_is_refused() -> None:
    at_limit = _error_raw(data=bytes(MAX_ERROR_DATA))
    assert at_limit == Error(1, "F00", "x", AT, bytes(MAX_ERROR_DATA)).encode()
    assert decode_btp(at_limit) == Error(1, "F00", "x", AT, bytes(MAX_ERROR_DATA))
    with pytest.raises(DecodeError, match="8193"):
        decode_btp(_error_raw(data=bytes(MAX_ERROR_DATA + 1)))


def test_decode_as_wrong_type_is_refused() -> None:
    with pytest.raises(DecodeError, match="expected BTP MESSAGE"):
        Message.decode(Response(1).encode())


def test_bytes_after_protocol_data_inside_content_are_ignored() -> None:
    # spec 00 §7: later versions may append fields inside the length-delimited content
    assert decode_btp(bytes.fromhex("0600000001030100ff")) == Message(1)


@pytest.mark.parametrize("text", [b"20200101000000Z", b"20200101000000.5Z", b"20200101000000.50Z"])
def test_generalized_time_with_short_fraction_is_read(text: bytes) -> None:
    want = AT + timedelta(milliseconds=500 if b"." in text else 0)
    assert decode_btp(_error_raw(triggered_at=text)) == Error(1, "F00", "x", want)


# ---- properties ----------------------------------------------------------------------

names = st.text(st.characters(max_codepoint=127), max_size=8)
entries = st.lists(
    st.builds(ProtocolData, names, st.sampled_from(ContentType), st.binary(max_size=16)),
    max_size=3,
).map(tuple)
request_ids = st.integers(0, UINT32_MAX)
amounts = st.integers(0, UINT64_MAX)
times = st.datetimes(timezones=st.just(UTC))
uuids = st.uuids()
hashes = st.binary(min_size=32, max_size=32)

packets: st.SearchStrategy[BtpPacket] = st.one_of(
    st.builds(Response, request_ids, entries),
    st.builds(Message, request_ids, entries),
    st.builds(Transfer, request_ids, amounts, entries),
    st.builds(
        Error,
        request_ids,
        st.text(st.characters(max_codepoint=127), min_size=3, max_size=3),
        names,
        times,
        st.binary(max_size=32),
        entries,
    ),
    st.builds(LegacyPrepare, request_ids, uuids, amounts, hashes, times, entries),
    st.builds(LegacyFulfill, request_ids, uuids, hashes, entries),
    st.builds(LegacyReject, request_ids, uuids, entries),
)


@settings(max_examples=300)
@given(packets)
def test_round_trip(packet: BtpPacket) -> None:
    raw = packet.encode()
    assert decode_btp(raw) == packet
    assert type(packet).decode(raw) == packet


@settings(max_examples=300)
@given(st.binary(max_size=96))
def test_random_bytes_raise_only_decode_error(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        packet = decode_btp(raw)
        assert decode_btp(packet.encode()) == packet


@settings(max_examples=300)
@given(packets, st.data())
def test_mutated_packets_raise_only_decode_error(packet: BtpPacket, data: st.DataObject) -> None:
    raw = bytearray(packet.encode())
    op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    i = data.draw(st.integers(0, len(raw) - 1))
    if op == "flip":
        raw[i] ^= data.draw(st.integers(1, 255))
    elif op == "cut":
        del raw[i:]
    else:
        raw.insert(i, data.draw(st.integers(0, 255)))
    with contextlib.suppress(DecodeError):
        again = decode_btp(bytes(raw))
        assert decode_btp(again.encode()) == again


def test_type_enum_matches_classes() -> None:
    assert {cls.TYPE for cls in TYPE_NAMES.values()} == set(BtpType)
