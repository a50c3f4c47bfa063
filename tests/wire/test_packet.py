"""ILPv4 Prepare / Fulfill / Reject (spec 02) against the shared vectors, plus properties."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilpnet.wire import packet as packet_module
from ilpnet.wire.errors import DecodeError, ErrorClass, ErrorCode, IlpError, InvalidValueError
from ilpnet.wire.packet import (
    FULFILL,
    PREPARE,
    REJECT,
    AmountTooLargeData,
    Fulfill,
    IlpPacket,
    Prepare,
    Reject,
    _decode_fulfill_strict,
    _decode_prepare_strict,
    _decode_reject_strict,
    decode_packet,
    reject_from_error,
)
from tests.spec_vectors import Vector, load_data, load_vectors

CONDITION = bytes.fromhex("74e1136dc71c9e5f283bec83461cbf1261c4014f72d48f8dd65453a0b84e7de1")
EXPIRY = datetime(2020, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def prepare_from(f: dict[str, str]) -> Prepare:
    return Prepare(
        amount=int(f["amount"]),
        expires_at=_iso(f["expiresAt"]),
        execution_condition=bytes.fromhex(f["executionCondition"]),
        destination=f["destination"],
        data=bytes.fromhex(f["data"]),
    )


def fulfill_from(f: dict[str, str]) -> Fulfill:
    return Fulfill(fulfillment=bytes.fromhex(f["fulfillment"]), data=bytes.fromhex(f["data"]))


def reject_from(f: dict[str, str]) -> Reject:
    return Reject(
        code=f["code"],
        triggered_by=f["triggeredBy"],
        message=f["message"],
        data=bytes.fromhex(f["data"]),
    )


STRICT: dict[int, Callable[[bytes], IlpPacket]] = {
    PREPARE: _decode_prepare_strict,
    FULFILL: _decode_fulfill_strict,
    REJECT: _decode_reject_strict,
}


def check_vector(v: Vector, cls: type[IlpPacket], build: Callable[[Any], IlpPacket]) -> None:
    raw = bytes.fromhex(v["hex"])
    if v.get("expect_error"):
        with pytest.raises(DecodeError):
            cls.decode(raw)
        with pytest.raises(DecodeError):
            decode_packet(raw)
        return
    want = build(v["fields"])
    got = cls.decode(raw)
    assert got == want
    assert repr(got) == repr(want)
    assert hash(got) == hash(want)
    assert decode_packet(raw) == want
    assert STRICT[raw[0]](raw) == want
    if not v.get("decode_only"):
        assert want.encode() == raw
        assert got.encode() == raw


@pytest.mark.parametrize("v", load_vectors("ilp_prepare.json"))
def test_prepare_vector(v: Vector) -> None:
    check_vector(v, Prepare, prepare_from)


@pytest.mark.parametrize("v", load_vectors("ilp_fulfill.json"))
def test_fulfill_vector(v: Vector) -> None:
    check_vector(v, Fulfill, fulfill_from)


@pytest.mark.parametrize("v", load_vectors("ilp_reject.json"))
def test_reject_vector(v: Vector) -> None:
    check_vector(v, Reject, reject_from)


def test_decoded_fields_have_plain_types() -> None:
    p = prepare_from(
        {
            "amount": "107",
            "expiresAt": "2017-12-23T01:21:40.549Z",
            "executionCondition": CONDITION.hex(),
            "destination": "example.alice",
            "data": "00ff",
        }
    )
    got = Prepare.decode(p.encode())
    assert type(got.amount) is int
    assert got.expires_at == datetime(2017, 12, 23, 1, 21, 40, 549000, tzinfo=UTC)
    assert got.expires_at.tzinfo is UTC
    assert type(got.execution_condition) is bytes
    assert type(got.destination) is str
    assert type(got.data) is bytes
    assert got.data == b"\x00\xff"


# ---- error codes ----------------------------------------------------------------------


def test_error_code_table_matches_spec_data() -> None:
    table = load_data("error-codes.json")["ilp_reject_codes"]["codes"]
    classes = {"final": ErrorClass.FINAL, "temporary": ErrorClass.TEMPORARY}
    classes["relative"] = ErrorClass.RELATIVE
    assert {e["code"] for e in table} == {c.value for c in ErrorCode}
    for entry in table:
        code = ErrorCode(entry["code"])
        assert code.error_class is classes[entry["class"]]
        assert code.label == entry["name"]
        reject = Reject(entry["code"], "test.x", entry["name"])
        assert reject.code is code
        assert reject.error_class is classes[entry["class"]]


def test_unknown_codes_are_kept_and_classed_by_first_letter() -> None:
    r = Reject("T42", "test.x", "made up")
    assert r.code == "T42"
    assert not isinstance(r.code, ErrorCode)
    assert r.error_class is ErrorClass.TEMPORARY
    decoded = Reject.decode(r.encode())
    assert decoded == r
    assert decoded.code == "T42"
    assert decoded.error_class is ErrorClass.TEMPORARY
    assert Reject.decode(Reject("R77", "", "").encode()).error_class is ErrorClass.RELATIVE


@pytest.mark.parametrize("code", ["X01", "F0", "F001", "f01", "F 1", "F\u00e91"])
def test_bad_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidValueError, match="code"):
        Reject(code, "test.x", "")


# ---- construction ---------------------------------------------------------------------


def _prepare_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "amount": 10,
        "expires_at": EXPIRY,
        "execution_condition": CONDITION,
        "destination": "test.alice",
        "data": b"",
    }
    kwargs.update(changes)
    return kwargs


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"amount": -1}, "amount -1 is outside"),
        ({"amount": 2**64}, "amount 18446744073709551616 is outside"),
        ({"amount": 1.5}, "amount must be an int"),
        ({"amount": True}, "amount must be an int"),
        ({"execution_condition": bytes(31)}, "execution_condition must be 32 bytes"),
        ({"execution_condition": bytes(33)}, "execution_condition is 33 bytes"),
        ({"execution_condition": "00" * 32}, "execution_condition must be bytes"),
        ({"expires_at": datetime(2020, 1, 1)}, "timezone-aware"),  # noqa: DTZ001
        ({"expires_at": "2020-01-01T00:00:00Z"}, "must be a datetime"),
        ({"destination": "test"}, "destination: invalid ILP address"),
        ({"destination": "g..x"}, "segment 2 is empty"),
        ({"destination": "g." + "a" * 1022}, "1024 characters"),
        ({"data": bytes(32768)}, "data is 32768 bytes, at most 32767"),
        ({"data": "text"}, "data must be bytes"),
    ],
)
def test_prepare_rejects_invalid_values(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidValueError, match=problem):
        Prepare(**_prepare_kwargs(**changes))


def test_prepare_limits_are_inclusive() -> None:
    p = Prepare(
        **_prepare_kwargs(amount=2**64 - 1, destination="g." + "a" * 1021, data=bytes(32767))
    )
    assert Prepare.decode(p.encode()) == p
    assert Fulfill.decode(Fulfill(bytes(32), bytes(32767)).encode()).data == bytes(32767)


def test_expiry_is_normalised_to_utc_milliseconds() -> None:
    plus2 = timezone(timedelta(hours=2))
    p = Prepare(**_prepare_kwargs(expires_at=datetime(2020, 3, 1, 14, 0, 0, 123999, plus2)))
    assert p.expires_at == EXPIRY
    assert p.expires_at.tzinfo is UTC
    assert p.expires_at.microsecond == 123000
    assert p == Prepare(**_prepare_kwargs())
    assert Prepare.decode(p.encode()) == p
    assert p.encode()[10:27] == b"20200301120000123"


def test_reject_field_checks() -> None:
    with pytest.raises(InvalidValueError, match="triggered_by"):
        Reject("F02", "nope", "")
    with pytest.raises(InvalidValueError, match="message is 8192 UTF-8 bytes"):
        Reject("F02", "", "x" * 8192)
    with pytest.raises(InvalidValueError, match="message is 8192 UTF-8 bytes"):
        Reject("F02", "", "\u00e9" * 4096)
    with pytest.raises(InvalidValueError, match="UTF-8"):
        Reject("F02", "", "\ud800")
    with pytest.raises(InvalidValueError, match="fulfillment must be 32 bytes"):
        Fulfill(bytes(16))
    assert Reject("F02", "", "x" * 8191).message == "x" * 8191


def test_packets_are_immutable_values() -> None:
    p = Prepare(**_prepare_kwargs())
    with pytest.raises(AttributeError):
        p.amount = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.extra = 5  # type: ignore[attr-defined]
    f = Fulfill(bytes(32))
    with pytest.raises(AttributeError):
        f.data = b"x"  # type: ignore[misc]
    r = Reject("F02", "test.a", "m")
    with pytest.raises(AttributeError):
        r.code = "F03"  # type: ignore[misc]
    assert len({p, Prepare(**_prepare_kwargs()), Prepare.decode(p.encode())}) == 1
    assert p != Prepare(**_prepare_kwargs(amount=11))
    assert p != Fulfill(bytes(32))


def test_with_changes_and_replace() -> None:
    p = Prepare.decode(Prepare(**_prepare_kwargs(data=b"abc")).encode())
    later = EXPIRY + timedelta(seconds=1, microseconds=999)
    q = p.with_changes(amount=99, expires_at=later)
    assert q == Prepare(**_prepare_kwargs(amount=99, expires_at=later, data=b"abc"))
    assert q.expires_at == EXPIRY + timedelta(seconds=1)
    assert Prepare.decode(q.encode()) == q
    assert p.amount == 10  # the original is unchanged
    assert p.with_changes(amount=5).expires_at == EXPIRY
    assert p.with_changes(destination="test.bob").destination == "test.bob"
    with pytest.raises(InvalidValueError):
        p.with_changes(amount=-1)
    with pytest.raises(InvalidValueError):
        p.with_changes(expires_at=datetime(2020, 1, 1))  # noqa: DTZ001
    # dataclasses.replace works too, through the validating constructor.
    assert dataclasses.replace(p, amount=99, expires_at=later) == q
    assert [f.name for f in dataclasses.fields(Prepare)] == [
        "amount",
        "expires_at",
        "execution_condition",
        "destination",
        "data",
    ]
    with pytest.raises(InvalidValueError):
        dataclasses.replace(p, amount=-1)
    r = Reject("F02", "test.a", "m")
    assert dataclasses.replace(r, message="n") == r.with_changes(message="n")
    assert r.with_changes(code="T00").code is ErrorCode.T00_INTERNAL_ERROR
    f = Fulfill(bytes(32), b"d")
    assert dataclasses.replace(f, data=b"e") == Fulfill(bytes(32), b"e")
    if sys.version_info >= (3, 13):
        assert copy.replace(p, amount=99, expires_at=later) == q  # type: ignore[attr-defined]


def test_packets_pickle_and_copy() -> None:
    for packet in (
        Prepare.decode(Prepare(**_prepare_kwargs()).encode()),
        Fulfill(bytes(32), b"x"),
        Reject("F99", "test.a", "\u00e9", b"\x01"),
    ):
        assert pickle.loads(pickle.dumps(packet)) == packet  # noqa: S301
        assert copy.deepcopy(packet) == packet


def test_match_statement() -> None:
    packet: IlpPacket = Reject("F08", "test.a", "too much", AmountTooLargeData(2, 1).encode())
    match packet:
        case Reject(code=ErrorCode.F08_AMOUNT_TOO_LARGE, data=data):
            assert AmountTooLargeData.decode(data).maximum_amount == 1
        case _:  # pragma: no cover
            pytest.fail("no match")


# ---- decoding errors ------------------------------------------------------------------

GOOD_PREPARE = Prepare(**_prepare_kwargs(destination="test.bob", data=b"hi")).encode()


def _prepare_content(content: bytes) -> bytes:
    assert len(content) < 128
    return bytes((PREPARE, len(content))) + content


def _patched(offset: int, value: bytes) -> bytes:
    return GOOD_PREPARE[:offset] + value + GOOD_PREPARE[offset + len(value) :]


@pytest.mark.parametrize(
    ("raw", "problem", "offset"),
    [
        (b"", "empty input", 0),
        (b"\x0d" + GOOD_PREPARE[1:], "packet type 13 is not ILP Prepare", 0),
        (b"\x0c", "ILP Prepare content missing", 1),
        (GOOD_PREPARE[:-1], "ILP Prepare content of 69 bytes, 68 left", 1),
        (GOOD_PREPARE + b"\x00", "1 unexpected bytes after the ILP Prepare", 71),
        (b"\x0c\x81\x45" + GOOD_PREPARE[2:], "long form used for 69", 1),
        (b"\x0c\x80", "zero length-of-length", 1),
        (_prepare_content(bytes(20)), "expiresAt needs 17 bytes, 12 left", 10),
        (_patched(10, b"20201301"), "timestamp out of range", 10),
        (_patched(18, b"24"), "timestamp out of range", 10),
        (_patched(22, b"60"), "timestamp out of range", 10),
        (_patched(10, b"0000"), "timestamp out of range", 10),
        (_patched(24, b"1."), "17 ASCII digits", 10),
        (_patched(10, b"20210229"), "timestamp out of range", 10),  # 2021 has no 29 Feb
        (_patched(59, b"\x09"), "destination: invalid ILP address 'test.bob\\x02'", 59),
        (_patched(60, b"Test"), "unknown allocation scheme 'Test'", 59),
        (_patched(63, b"\xff"), "destination is not ASCII", 59),
        (_patched(59, b"\x00"), "invalid ILP address '': empty", 59),
        (_patched(68, b"\x03"), "data of 3 bytes, 2 left", 68),
        (GOOD_PREPARE[:1] + bytes((68,)) + GOOD_PREPARE[2:-1], "data of 2 bytes, 1 left", 68),
    ],
)
def test_prepare_decode_errors(raw: bytes, problem: str, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        Prepare.decode(raw)
    assert problem in info.value.reason
    assert info.value.offset == offset
    assert info.value.code is ErrorCode.F01_INVALID_PACKET
    with pytest.raises(DecodeError):
        decode_packet(raw)


def test_expiry_is_parsed_lazily_even_after_the_date_cache_is_cleared() -> None:
    raw = Prepare(**_prepare_kwargs()).encode()
    decoded = Prepare.decode(raw)
    packet_module._DATES.clear()
    assert decoded.expires_at == EXPIRY
    assert Prepare.decode(raw).expires_at == EXPIRY  # the strict path refills the cache
    assert Prepare.decode(raw) == decoded


def test_leap_day_is_accepted() -> None:
    raw = _patched(10, b"20200229")
    assert Prepare.decode(raw).expires_at == datetime(2020, 2, 29, 12, 0, 0, 123000, tzinfo=UTC)


def test_data_longer_than_32767_is_refused() -> None:
    content = Prepare(**_prepare_kwargs(data=bytes(32767))).encode()
    body = content[4:-32770] + b"\x82\x80\x00" + bytes(32768)
    raw = b"\x0c\x82" + len(body).to_bytes(2, "big") + body
    with pytest.raises(DecodeError, match="data is 32768 bytes, at most 32767"):
        Prepare.decode(raw)


def test_extra_content_bytes_are_ignored_and_dropped_on_encode() -> None:
    content = GOOD_PREPARE[2:] + b"future field"
    raw = _prepare_content(content)
    p = Prepare.decode(raw)
    assert p == Prepare.decode(GOOD_PREPARE)
    assert p.encode() == GOOD_PREPARE
    f = Fulfill(bytes(32), b"x").encode()
    assert Fulfill.decode(bytes((FULFILL, f[1] + 2)) + f[2:] + b"\x01\x02").encode() == f
    r = Reject("F02", "test.a", "m", b"d").encode()
    assert Reject.decode(bytes((REJECT, r[1] + 1)) + r[2:] + b"\x00").encode() == r


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"\x0d\x20" + bytes(32), "data missing"),
        (b"\x0d\x21" + bytes(33) + b"\x00", "1 unexpected bytes after the ILP Fulfill"),
        (b"\x0d\x1f" + bytes(31), "fulfillment needs 32 bytes, 31 left"),
        (b"\x0e\x06X01\x00\x00\x00", "code: 'X01' does not start with F, T or R"),
        (b"\x0e\x06F\xff1\x00\x00\x00", "code b'F.xff1' is not ASCII"),
        (b"\x0e\x08F02\x02g.\x00\x00", "triggeredBy: invalid ILP address"),
        (b"\x0e\x07F02\x00\x01\xff\x00", "message is not valid UTF-8"),
        (b"\x0e\x05F02\x00\x00", "data missing"),
        (b"\x0f\x00", "unknown ILP packet type 15"),
        (b"\x01\x00", "unknown ILP packet type 1"),
    ],
)
def test_fulfill_and_reject_decode_errors(raw: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        decode_packet(raw)


def test_reject_message_over_8191_bytes_is_refused() -> None:
    message = b"x" * 8192
    body = b"F02\x00\x82\x20\x00" + message + b"\x00"
    raw = b"\x0e\x82" + len(body).to_bytes(2, "big") + body
    with pytest.raises(DecodeError, match="message is 8192 bytes, at most 8191"):
        Reject.decode(raw)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert Prepare.decode(bytearray(GOOD_PREPARE)) == Prepare.decode(GOOD_PREPARE)
    assert decode_packet(memoryview(GOOD_PREPARE)) == Prepare.decode(GOOD_PREPARE)
    assert type(Prepare.decode(bytearray(GOOD_PREPARE)).data) is bytes


# ---- F08 data and rejects from errors -------------------------------------------------


def test_amount_too_large_data_vector() -> None:
    data = bytes.fromhex("00000000000000ff000000000000ffff")
    assert AmountTooLargeData.decode(data) == AmountTooLargeData(255, 65535)
    assert AmountTooLargeData(255, 65535).encode() == data
    assert AmountTooLargeData.decode(data + b"\x01") == AmountTooLargeData(255, 65535)
    with pytest.raises(DecodeError, match="F08 data needs 16 bytes, got 15"):
        AmountTooLargeData.decode(data[:15])
    with pytest.raises(InvalidValueError):
        AmountTooLargeData(-1, 0)
    with pytest.raises(InvalidValueError):
        AmountTooLargeData(0, 2**64)


@pytest.mark.parametrize("v", load_vectors("ilp_reject.json"))
def test_amount_too_large_data_in_reject_vectors(v: Vector) -> None:
    if v["fields"]["code"] != "F08":
        return
    reject = Reject.decode(bytes.fromhex(v["hex"]))
    info = AmountTooLargeData.decode(reject.data)
    assert info.encode() == reject.data
    assert str(info.maximum_amount) in v["description"] + v["fields"]["message"]


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
@settings(max_examples=200)
def test_amount_too_large_data_round_trip(received: int, maximum: int) -> None:
    info = AmountTooLargeData(received, maximum)
    assert len(info.encode()) == 16
    assert AmountTooLargeData.decode(info.encode()) == info


def test_reject_from_error() -> None:
    err = IlpError(ErrorCode.F08_AMOUNT_TOO_LARGE, "too much", AmountTooLargeData(5, 4).encode())
    r = reject_from_error(err, "test.conn")
    assert r == Reject("F08", "test.conn", "too much", AmountTooLargeData(5, 4).encode())
    assert r.code is ErrorCode.F08_AMOUNT_TOO_LARGE
    long = reject_from_error(IlpError(ErrorCode.T00_INTERNAL_ERROR, "\u00e9" * 5000), "")
    assert long.message == "\u00e9" * 4095
    assert reject_from_error(IlpError(ErrorCode.T00_INTERNAL_ERROR, "\ud800"), "").message == "?"
    big = IlpError(ErrorCode.F99_APPLICATION_ERROR, "x", bytes(40000))
    assert reject_from_error(big, "test.c").data == b""
    decode_err = DecodeError("bad", 3)
    assert reject_from_error(decode_err, "test.c").code is ErrorCode.F01_INVALID_PACKET
    with pytest.raises(InvalidValueError):
        reject_from_error(err, "not an address")


# ---- properties -----------------------------------------------------------------------

SEGMENT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~-"
addresses = st.builds(
    lambda scheme, rest: ".".join([scheme, *rest]),
    st.sampled_from(["g", "test", "test3", "peer", "private", "local", "example", "self"]),
    st.lists(st.text(alphabet=SEGMENT_CHARS, min_size=1, max_size=40), min_size=1, max_size=6),
)
payloads = st.one_of(st.binary(max_size=20), st.binary(min_size=120, max_size=300))
expiries = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)
prepares = st.builds(
    Prepare,
    amount=st.integers(0, 2**64 - 1),
    expires_at=expiries,
    execution_condition=st.binary(min_size=32, max_size=32),
    destination=addresses,
    data=payloads,
)
fulfills = st.builds(Fulfill, fulfillment=st.binary(min_size=32, max_size=32), data=payloads)
codes = st.one_of(
    st.sampled_from(list(ErrorCode)),
    st.builds(
        lambda a, b: a + b, st.sampled_from("FTR"), st.text("0123456789AZ", min_size=2, max_size=2)
    ),
)
rejects = st.builds(
    Reject,
    code=codes,
    triggered_by=st.one_of(st.just(""), addresses),
    message=st.one_of(st.text(max_size=20), st.text(min_size=100, max_size=200)),
    data=payloads,
)
packets = st.one_of(prepares, fulfills, rejects)


@given(prepares)
@settings(max_examples=400)
def test_prepare_round_trip(p: Prepare) -> None:
    raw = p.encode()
    got = Prepare.decode(raw)
    assert got == p
    assert got.expires_at == p.expires_at
    assert _decode_prepare_strict(raw) == p
    assert got.encode() == raw
    assert Prepare.decode(got.with_changes(amount=1).encode()).amount == 1


@given(fulfills)
@settings(max_examples=200)
def test_fulfill_round_trip(f: Fulfill) -> None:
    raw = f.encode()
    assert Fulfill.decode(raw) == f
    assert _decode_fulfill_strict(raw) == f


@given(rejects)
@settings(max_examples=300)
def test_reject_round_trip(r: Reject) -> None:
    raw = r.encode()
    got = Reject.decode(raw)
    assert got == r
    assert got.code == r.code
    assert got.error_class is r.error_class
    assert _decode_reject_strict(raw) == r


def _decode_both(raw: bytes) -> tuple[object, object]:
    """(fast result, strict result) where a DecodeError counts as the result "error"."""
    try:
        fast: object = decode_packet(raw)
    except DecodeError:
        fast = "error"
    strict_decoder = STRICT.get(raw[0]) if raw else None
    if strict_decoder is None:
        return fast, "error"
    try:
        strict: object = strict_decoder(raw)
    except DecodeError:
        strict = "error"
    return fast, strict


@given(st.binary(max_size=120))
@settings(max_examples=500)
def test_random_bytes_raise_only_decode_error(raw: bytes) -> None:
    fast, strict = _decode_both(raw)
    assert fast == strict
    for typed in (bytes((PREPARE,)), bytes((FULFILL,)), bytes((REJECT,))):
        fast, strict = _decode_both(typed + raw)
        assert fast == strict


@st.composite
def mutated_packets(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(packets).encode())
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "extend", "insert", "delete"]))
        at = draw(st.integers(0, len(raw)))
        if kind == "flip" and at < len(raw):
            raw[at] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del raw[at:]
        elif kind == "extend":
            raw += draw(st.binary(min_size=1, max_size=8))
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 4))]
    return bytes(raw)


@given(mutated_packets())
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_packets_raise_only_decode_error(raw: bytes) -> None:
    fast, strict = _decode_both(raw)
    assert fast == strict
    if fast != "error":
        assert isinstance(fast, (Prepare, Fulfill, Reject))
        assert type(fast).decode(fast.encode()) == fast
