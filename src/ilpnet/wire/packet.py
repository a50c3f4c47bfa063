"""ILPv4 packets (spec 02): Prepare, Fulfill and Reject, byte-exact and fast.

Every packet is `type (UInt8) || VarOctetString(content)`. The packet classes are
immutable values with `__slots__` rather than frozen dataclasses, because they sit on the
hot path of every connector (decode and encode each run well over 500 000 times a second
on one core). They still behave like dataclasses where it matters:

* keyword (or positional) construction validates every field and raises
  `InvalidValueError`; equality and hashing compare all fields; `repr` looks like a
  dataclass repr; `dataclasses.fields()` works; attributes are read-only properties.
* `decode` raises only `DecodeError` (F01, with the offset and what is wrong). It first
  tries a fast path that slices the buffer at precomputed offsets; on anything unusual it
  falls back to a strict `Reader`-based decoder that either succeeds or names the problem.
  The fast path remembers, in small bounded caches, expiry dates and addresses it has
  already proven valid, so packets of one payment skip re-checking them.
* `encode()` is computed once and cached (the value is immutable); a decoded packet
  simply returns its input bytes when they were canonical.
* `with_changes(...)` is the fast copy; `dataclasses.replace()` also works (it goes
  through the validating constructor), and on Python 3.13+ so does `copy.replace()`.

Decoding rules (spec 02 §2 and §9, spec 00 §7): the content length must be canonical and
fit the input; bytes *after* the envelope are rejected (they belong to no field); bytes
after the last known field *inside* the content are ignored (forward compatibility), and
re-encoding drops them. A Prepare destination, and a non-empty Reject `triggered_by`, must
satisfy the address grammar; the expiry must be a valid 17-digit timestamp; data is at
most 32 767 bytes and a Reject message at most 8 191 UTF-8 bytes.

Times: `expires_at` is always an aware UTC datetime in whole milliseconds. The constructor
converts other zones to UTC and truncates sub-millisecond precision (what the wire keeps),
so `Prepare.decode(p.encode()) == p` always holds. A decoded Prepare keeps the 17 wire
digits (validated at decode time) and builds the datetime on first access.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, TypeAlias

from ilpnet.wire.address import ADDRESS_BYTES_PATTERN, ADDRESS_MAX_LENGTH, validate_address
from ilpnet.wire.errors import (
    DecodeError,
    ErrorClass,
    ErrorCode,
    IlpError,
    InvalidValueError,
)
from ilpnet.wire.oer import UINT64_MAX, Reader, decode_ilp_timestamp, encode_length

PREPARE: Final = 12
"""Type id of an ILP Prepare."""
FULFILL: Final = 13
"""Type id of an ILP Fulfill."""
REJECT: Final = 14
"""Type id of an ILP Reject."""

MAX_DATA_LENGTH: Final = 32767
"""Largest `data` field of any ILP packet, in bytes."""
MAX_MESSAGE_LENGTH: Final = 8191
"""Largest Reject `message`, in UTF-8 bytes (ASN.1 constraint)."""
CONDITION_LENGTH: Final = 32
"""Size of an execution condition and of a fulfillment."""

_TYPE_NAMES: Final = {PREPARE: "ILP Prepare", FULFILL: "ILP Fulfill", REJECT: "ILP Reject"}
_PREPARE_MIN_CONTENT: Final = 8 + 17 + 32 + 1 + 3 + 1  # shortest address is "g.a"

_new = object.__new__
_from_bytes = int.from_bytes
_ADDRESS_MATCH = ADDRESS_BYTES_PATTERN.fullmatch

# Canonical length prefixes for small lengths, so encoders mostly do a tuple lookup.
_LENGTH_PREFIX: Final = tuple(encode_length(n) for n in range(4096))


def _length_prefix(n: int) -> bytes:
    return _LENGTH_PREFIX[n] if n < 4096 else encode_length(n)


# ---- validated field values ------------------------------------------------------------


def _check_uint64(value: int, what: str) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"{what} must be an int, got {type(value).__name__}")
        value = int(value)
    if not 0 <= value <= UINT64_MAX:
        raise InvalidValueError(f"{what} {value} is outside 0..2**64-1")
    return value


def _check_bytes(value: bytes, what: str, max_length: int) -> bytes:
    if type(value) is not bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidValueError(f"{what} must be bytes, got {type(value).__name__}")
        value = bytes(value)
    if len(value) > max_length:
        raise InvalidValueError(f"{what} is {len(value)} bytes, at most {max_length} allowed")
    return value


def _check_fixed(value: bytes, what: str) -> bytes:
    value = _check_bytes(value, what, CONDITION_LENGTH)
    if len(value) != CONDITION_LENGTH:
        raise InvalidValueError(f"{what} must be {CONDITION_LENGTH} bytes, got {len(value)}")
    return value


def _check_expiry(t: datetime) -> datetime:
    """Aware UTC, whole milliseconds: the instant exactly as the wire will carry it."""
    if not isinstance(t, datetime):
        raise InvalidValueError(f"expires_at must be a datetime, got {type(t).__name__}")
    if t.tzinfo is not UTC:
        if t.tzinfo is None or t.utcoffset() is None:
            raise InvalidValueError(f"expires_at must be timezone-aware, got {t!r}")
        try:
            t = t.astimezone(UTC)
        except OverflowError as exc:
            raise InvalidValueError(f"expires_at {t!r} is outside the years 1-9999") from exc
    micro = t.microsecond
    if micro % 1000 or t.fold:
        t = t.replace(microsecond=micro - micro % 1000, fold=0)
    return t


# Address strings already proven valid (bounded), so building packets for the same
# destination skips the grammar check.
_VALID_ADDRESSES: set[str] = set()
_ADDRESS_CACHE_SIZE: Final = 1024


def _remember_address(address: str) -> None:
    if len(_VALID_ADDRESSES) >= _ADDRESS_CACHE_SIZE:
        _VALID_ADDRESSES.clear()
    _VALID_ADDRESSES.add(address)


def _check_address(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a str, got {type(value).__name__}")
    if type(value) is str and value in _VALID_ADDRESSES:
        return value
    try:
        validate_address(value)
    except InvalidValueError as exc:
        raise InvalidValueError(f"{what}: {exc.message}") from None
    value = str(value)  # a plain str, even from a str subclass
    _remember_address(value)
    return value


# ---- the 17-digit expiry ----------------------------------------------------------------

# Dates (the first 8 digits) already proven valid, with their parsed (year, month, day).
# Bounded: it is cleared when it grows past _DATE_CACHE_SIZE.
_DATES: dict[bytes, tuple[int, int, int]] = {}
_DATE_CACHE_SIZE: Final = 4096


def _timestamp_ok(ts: bytes) -> bool:
    """Fast check of 17 wire digits against known dates; False means "check properly"."""
    # b"0"=48, b"2"=50, b"4"=52, b"6"=54: hour 00-23, minute and second 00-59.
    return (
        ts.isdigit()
        and ts[:8] in _DATES
        and ts[10] < 54
        and ts[12] < 54
        and (ts[8] < 50 or (ts[8] == 50 and ts[9] < 52))
    )


def _check_timestamp(ts: bytes, offset: int) -> None:
    """Strict check of the expiry digits; raises DecodeError, remembers valid dates."""
    if len(ts) == 17 and _timestamp_ok(ts):
        return
    t = decode_ilp_timestamp(ts, offset)
    if len(_DATES) >= _DATE_CACHE_SIZE:
        _DATES.clear()
    _DATES[ts[:8]] = (t.year, t.month, t.day)


def _parse_timestamp(ts: bytes) -> datetime:
    """Datetime of 17 digits already validated by `_check_timestamp`."""
    ymd = _DATES.get(ts[:8])
    if ymd is None:
        return decode_ilp_timestamp(ts)
    hms = int(ts[8:14])
    return datetime(
        ymd[0],
        ymd[1],
        ymd[2],
        hms // 10000,
        hms // 100 % 100,
        hms % 100,
        int(ts[14:17]) * 1000,
        UTC,
    )


def _format_timestamp(t: datetime) -> bytes:
    """`YYYYMMDDHHmmssfff` of an aware UTC datetime in whole milliseconds."""
    return b"%08d%09d" % (
        t.year * 10000 + t.month * 100 + t.day,
        t.hour * 10000000 + t.minute * 100000 + t.second * 1000 + t.microsecond // 1000,
    )


# Addresses already proven valid, by their wire bytes: packets of one payment share their
# destination, so most decodes skip the grammar check. Bounded like _DATES.
_ADDRESSES: dict[bytes, str] = {}


def _known_address(buf: bytes, start: int, end: int) -> str | None:
    """The address in `buf[start:end]` if it is valid (checked once, then cached), else None."""
    key = buf[start:end]
    address = _ADDRESSES.get(key)
    if address is None:
        if _ADDRESS_MATCH(buf, start, end) is None:
            return None
        address = key.decode("ascii")
        if len(_ADDRESSES) >= _ADDRESS_CACHE_SIZE:
            _ADDRESSES.clear()
        _ADDRESSES[key] = address
    return address


# ---- strict (reference) decoding, also the fallback of every fast path ------------------


def _open_envelope(raw: bytes, packet_type: int) -> Reader:
    """A reader over the content of a packet of `packet_type` that must fill all of `raw`."""
    name = _TYPE_NAMES[packet_type]
    if not raw:
        raise DecodeError(f"empty input, expected {name}", 0)
    if raw[0] != packet_type:
        raise DecodeError(f"packet type {raw[0]} is not {name} ({packet_type})", 0)
    r = Reader(raw, 1)
    content = r.read_var_octets_reader(f"{name} content")
    if r.pos != len(raw):
        raise DecodeError(f"{len(raw) - r.pos} unexpected bytes after the {name}", r.pos)
    return content


def _read_address(r: Reader, what: str, *, allow_empty: bool = False) -> str:
    start = r.pos
    n = r.read_length(what)
    p = r.pos
    if n == 0 and allow_empty:
        return ""
    if n > ADDRESS_MAX_LENGTH:
        raise DecodeError(f"{what} is {n} bytes, at most {ADDRESS_MAX_LENGTH} allowed", start)
    r.pos = p + n
    if _ADDRESS_MATCH(r.buf, p, p + n) is None:
        raw = r.buf[p : p + n]
        if not raw.isascii():
            raise DecodeError(f"{what} is not ASCII: {raw!r}", start)
        try:
            validate_address(raw.decode("ascii"))
        except InvalidValueError as exc:
            raise DecodeError(f"{what}: {exc.message}", start) from None
        raise DecodeError(f"{what}: invalid ILP address {raw!r}", start)  # pragma: no cover
    return r.buf[p : p + n].decode("ascii")


def _read_data(r: Reader, what: str, max_length: int = MAX_DATA_LENGTH) -> bytes:
    start = r.pos
    data = r.read_var_octets(what)
    if len(data) > max_length:
        raise DecodeError(f"{what} is {len(data)} bytes, at most {max_length} allowed", start)
    return data


def _decode_prepare_strict(raw: bytes) -> Prepare:
    c = _open_envelope(raw, PREPARE)
    amount = c.read_uint64("amount")
    p = c.pos
    ts = c.read_bytes(17, "expiresAt")
    _check_timestamp(ts, p)
    condition = c.read_bytes(CONDITION_LENGTH, "executionCondition")
    destination = _read_address(c, "destination")
    data = _read_data(c, "data")
    return Prepare._make(
        amount, ts, None, condition, destination, data, raw if c.remaining == 0 else None
    )


def _decode_fulfill_strict(raw: bytes) -> Fulfill:
    c = _open_envelope(raw, FULFILL)
    fulfillment = c.read_bytes(CONDITION_LENGTH, "fulfillment")
    data = _read_data(c, "data")
    return Fulfill._make(fulfillment, data, raw if c.remaining == 0 else None)


def _decode_reject_strict(raw: bytes) -> Reject:
    c = _open_envelope(raw, REJECT)
    p = c.pos
    code_raw = c.read_bytes(3, "code")
    code: str | None = _CODE_BY_BYTES.get(code_raw)
    if code is None:
        if not code_raw.isascii():
            raise DecodeError(f"code {code_raw!r} is not ASCII", p)
        text = code_raw.decode("ascii")
        problem = _code_problem(text)
        if problem:
            raise DecodeError(f"code: {problem}", p)
        code = text
    triggered_by = _read_address(c, "triggeredBy", allow_empty=True)
    p = c.pos
    message_raw = _read_data(c, "message", MAX_MESSAGE_LENGTH)
    try:
        message = message_raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("message is not valid UTF-8", p) from None
    data = _read_data(c, "data")
    return Reject._make(code, triggered_by, message, data, raw if c.remaining == 0 else None)


# ---- Prepare ---------------------------------------------------------------------------


@dataclass
class _PrepareFields:
    amount: int
    expires_at: datetime
    execution_condition: bytes
    destination: str
    data: bytes = b""


class Prepare:
    """ILP Prepare (type 12): a conditional transfer of `amount` to `destination`."""

    __slots__ = ("_amount", "_condition", "_data", "_destination", "_expires_at", "_raw", "_ts")
    __match_args__ = ("amount", "expires_at", "execution_condition", "destination", "data")
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]] = (
        _PrepareFields.__dataclass_fields__
    )

    _amount: int
    _expires_at: datetime | None
    _ts: bytes | None
    _condition: bytes
    _destination: str
    _data: bytes
    _raw: bytes | None

    def __init__(
        self,
        amount: int,
        expires_at: datetime,
        execution_condition: bytes,
        destination: str,
        data: bytes = b"",
    ) -> None:
        # Each check is inlined for the common case and done in full by a _check_ function
        # (which also converts or explains) otherwise.
        if type(amount) is not int or not 0 <= amount <= UINT64_MAX:
            amount = _check_uint64(amount, "amount")
        if (
            type(expires_at) is not datetime
            or expires_at.tzinfo is not UTC
            or expires_at.microsecond % 1000
        ):
            expires_at = _check_expiry(expires_at)
        if type(execution_condition) is not bytes or len(execution_condition) != 32:
            execution_condition = _check_fixed(execution_condition, "execution_condition")
        if type(destination) is not str or destination not in _VALID_ADDRESSES:
            destination = _check_address(destination, "destination")
        if type(data) is not bytes or len(data) > MAX_DATA_LENGTH:
            data = _check_bytes(data, "data", MAX_DATA_LENGTH)
        self._amount = amount
        self._expires_at = expires_at
        self._ts = None
        self._condition = execution_condition
        self._destination = destination
        self._data = data
        self._raw = None

    @classmethod
    def _make(
        cls,
        amount: int,
        ts: bytes | None,
        expires_at: datetime | None,
        condition: bytes,
        destination: str,
        data: bytes,
        raw: bytes | None,
    ) -> Prepare:
        """Build from values already validated (by a decoder or an earlier constructor)."""
        p: Prepare = _new(cls)
        p._amount = amount
        p._ts = ts
        p._expires_at = expires_at
        p._condition = condition
        p._destination = destination
        p._data = data
        p._raw = raw
        return p

    @property
    def amount(self) -> int:
        """In the smallest unit of the link the packet travels on; 0..2**64-1."""
        return self._amount

    @property
    def expires_at(self) -> datetime:
        """Aware UTC datetime in whole milliseconds."""
        t = self._expires_at
        if t is None:
            ts = self._ts
            assert ts is not None  # a Prepare always holds the datetime or its wire digits
            t = self._expires_at = _parse_timestamp(ts)
        return t

    @property
    def execution_condition(self) -> bytes:
        """32-byte SHA-256 digest of the fulfillment."""
        return self._condition

    @property
    def destination(self) -> str:
        """The ILP address the packet is for."""
        return self._destination

    @property
    def data(self) -> bytes:
        """End-to-end payload, at most 32 767 bytes."""
        return self._data

    def with_changes(
        self,
        *,
        amount: int | None = None,
        expires_at: datetime | None = None,
        execution_condition: bytes | None = None,
        destination: str | None = None,
        data: bytes | None = None,
    ) -> Prepare:
        """A copy with the given fields replaced (validated); the fast `dataclasses.replace`."""
        if execution_condition is not None or destination is not None or data is not None:
            return Prepare(
                self._amount if amount is None else amount,
                self.expires_at if expires_at is None else expires_at,
                self._condition if execution_condition is None else execution_condition,
                self._destination if destination is None else destination,
                self._data if data is None else data,
            )
        if amount is None:
            amount = self._amount
        elif type(amount) is not int or not 0 <= amount <= UINT64_MAX:
            amount = _check_uint64(amount, "amount")
        if expires_at is None:
            ts, expires_at = self._ts, self._expires_at
        else:
            ts = None
            if (
                type(expires_at) is not datetime
                or expires_at.tzinfo is not UTC
                or expires_at.microsecond % 1000
            ):
                expires_at = _check_expiry(expires_at)
        raw = self._raw
        if raw is not None:  # the same bytes but amount and expiry (their sizes are fixed)
            if ts is None:
                assert expires_at is not None
                ts = _format_timestamp(expires_at)
            s = 2 if raw[1] < 0x80 else 2 + (raw[1] & 0x7F)
            raw = b"".join((raw[:s], amount.to_bytes(8, "big"), ts, raw[s + 25 :]))
        return Prepare._make(
            amount, ts, expires_at, self._condition, self._destination, self._data, raw
        )

    __replace__ = with_changes  # copy.replace() on Python 3.13+

    def encode(self) -> bytes:
        """The packet's canonical bytes (cached: the object is immutable)."""
        raw = self._raw
        if raw is not None:
            return raw
        ts = self._ts
        if ts is None:
            t = self._expires_at
            assert t is not None  # a Prepare always holds the datetime or its wire digits
            ts = self._ts = _format_timestamp(t)
        dest = self._destination.encode("ascii")
        data = self._data
        nd = len(dest)
        nn = len(data)
        dest_prefix = _length_prefix(nd)
        data_prefix = _length_prefix(nn)
        size = 57 + len(dest_prefix) + nd + len(data_prefix) + nn
        raw = self._raw = b"".join(
            (
                b"\x0c",
                _length_prefix(size),
                self._amount.to_bytes(8, "big"),
                ts,
                self._condition,
                dest_prefix,
                dest,
                data_prefix,
                data,
            )
        )
        return raw

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview) -> Prepare:
        """Parse one complete ILP Prepare; `DecodeError` for anything else."""
        if type(raw) is not bytes:
            raw = bytes(raw)
        # Fast path for the usual shapes; anything unusual goes to the strict decoder,
        # which either accepts the packet too or raises the precise DecodeError.
        try:
            if raw[0] != PREPARE:
                return _decode_prepare_strict(raw)
            n = raw[1]
            if n < 0x80:
                s = 2
            elif n == 0x82:
                n = raw[2] << 8 | raw[3]
                s = 4
                if n < 0x100:
                    return _decode_prepare_strict(raw)
            elif n == 0x81:
                n = raw[2]
                s = 3
                if n < 0x80:
                    return _decode_prepare_strict(raw)
            else:
                return _decode_prepare_strict(raw)
            end = s + n
            if end != len(raw) or n < _PREPARE_MIN_CONTENT:
                return _decode_prepare_strict(raw)
            ts = raw[s + 8 : s + 25]
            if not _timestamp_ok(ts):
                return _decode_prepare_strict(raw)
            p = s + 57
            n = raw[p]
            if n < 0x80:
                p += 1
            elif n == 0x81:
                n = raw[p + 1]
                p += 2
                if n < 0x80:
                    return _decode_prepare_strict(raw)
            elif n == 0x82:
                n = raw[p + 1] << 8 | raw[p + 2]
                p += 3
                if n < 0x100 or n > ADDRESS_MAX_LENGTH:
                    return _decode_prepare_strict(raw)
            else:
                return _decode_prepare_strict(raw)
            q = p + n
            if q >= end:
                return _decode_prepare_strict(raw)
            key = raw[p:q]
            destination = _ADDRESSES.get(key)
            if destination is None:
                destination = _known_address(raw, p, q)
                if destination is None:
                    return _decode_prepare_strict(raw)
            n = raw[q]
            if n < 0x80:
                q += 1
            elif n == 0x81:
                n = raw[q + 1]
                q += 2
                if n < 0x80:
                    return _decode_prepare_strict(raw)
            elif n == 0x82:
                n = raw[q + 1] << 8 | raw[q + 2]
                q += 3
                if n < 0x100 or n > MAX_DATA_LENGTH:
                    return _decode_prepare_strict(raw)
            else:
                return _decode_prepare_strict(raw)
            e = q + n
            if e > end:
                return _decode_prepare_strict(raw)
        except IndexError:
            return _decode_prepare_strict(raw)
        obj: Prepare = _new(cls)
        obj._amount = _from_bytes(raw[s : s + 8], "big")
        obj._ts = ts
        obj._expires_at = None
        obj._condition = raw[s + 25 : s + 57]
        obj._destination = destination
        obj._data = raw[q:e]
        obj._raw = raw if e == end else None
        return obj

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prepare):
            return NotImplemented
        if self._raw is not None and self._raw == other._raw:
            return True
        return (
            self._amount == other._amount
            and self._condition == other._condition
            and self._destination == other._destination
            and self._data == other._data
            and self.expires_at == other.expires_at
        )

    def __hash__(self) -> int:
        return hash(
            (PREPARE, self._amount, self.expires_at, self._condition, self._destination, self._data)
        )

    def __repr__(self) -> str:
        return (
            f"Prepare(amount={self._amount!r}, expires_at={self.expires_at!r}, "
            f"execution_condition={self._condition!r}, destination={self._destination!r}, "
            f"data={self._data!r})"
        )

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Prepare.decode, (self.encode(),))


# ---- Fulfill ---------------------------------------------------------------------------


@dataclass
class _FulfillFields:
    fulfillment: bytes
    data: bytes = b""


class Fulfill:
    """ILP Fulfill (type 13): the 32-byte preimage that executes the Prepare it answers."""

    __slots__ = ("_data", "_fulfillment", "_raw")
    __match_args__ = ("fulfillment", "data")
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]] = (
        _FulfillFields.__dataclass_fields__
    )

    _fulfillment: bytes
    _data: bytes
    _raw: bytes | None

    def __init__(self, fulfillment: bytes, data: bytes = b"") -> None:
        self._fulfillment = _check_fixed(fulfillment, "fulfillment")
        self._data = _check_bytes(data, "data", MAX_DATA_LENGTH)
        self._raw = None

    @classmethod
    def _make(cls, fulfillment: bytes, data: bytes, raw: bytes | None) -> Fulfill:
        f: Fulfill = _new(cls)
        f._fulfillment = fulfillment
        f._data = data
        f._raw = raw
        return f

    @property
    def fulfillment(self) -> bytes:
        """32 bytes whose SHA-256 is the Prepare's execution condition."""
        return self._fulfillment

    @property
    def data(self) -> bytes:
        """End-to-end payload, at most 32 767 bytes."""
        return self._data

    def with_changes(
        self, *, fulfillment: bytes | None = None, data: bytes | None = None
    ) -> Fulfill:
        """A copy with the given fields replaced (validated)."""
        return Fulfill(
            self._fulfillment if fulfillment is None else fulfillment,
            self._data if data is None else data,
        )

    __replace__ = with_changes

    def encode(self) -> bytes:
        """The packet's canonical bytes (cached)."""
        raw = self._raw
        if raw is not None:
            return raw
        data = self._data
        data_prefix = _length_prefix(len(data))
        size = 32 + len(data_prefix) + len(data)
        raw = self._raw = b"".join(
            (b"\x0d", _length_prefix(size), self._fulfillment, data_prefix, data)
        )
        return raw

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview) -> Fulfill:
        """Parse one complete ILP Fulfill; `DecodeError` for anything else."""
        if type(raw) is not bytes:
            raw = bytes(raw)
        try:
            if raw[0] != FULFILL:
                return _decode_fulfill_strict(raw)
            n = raw[1]
            if n < 0x80:
                s = 2
            elif n == 0x81:
                n = raw[2]
                s = 3
                if n < 0x80:
                    return _decode_fulfill_strict(raw)
            elif n == 0x82:
                n = raw[2] << 8 | raw[3]
                s = 4
                if n < 0x100:
                    return _decode_fulfill_strict(raw)
            else:
                return _decode_fulfill_strict(raw)
            end = s + n
            if end != len(raw) or n < 33:
                return _decode_fulfill_strict(raw)
            q = s + 32
            n = raw[q]
            if n < 0x80:
                q += 1
            elif n == 0x81:
                n = raw[q + 1]
                q += 2
                if n < 0x80:
                    return _decode_fulfill_strict(raw)
            elif n == 0x82:
                n = raw[q + 1] << 8 | raw[q + 2]
                q += 3
                if n < 0x100 or n > MAX_DATA_LENGTH:
                    return _decode_fulfill_strict(raw)
            else:
                return _decode_fulfill_strict(raw)
            e = q + n
            if e > end:
                return _decode_fulfill_strict(raw)
        except IndexError:
            return _decode_fulfill_strict(raw)
        obj: Fulfill = _new(cls)
        obj._fulfillment = raw[s : s + 32]
        obj._data = raw[q:e]
        obj._raw = raw if e == end else None
        return obj

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fulfill):
            return NotImplemented
        return self._fulfillment == other._fulfillment and self._data == other._data

    def __hash__(self) -> int:
        return hash((FULFILL, self._fulfillment, self._data))

    def __repr__(self) -> str:
        return f"Fulfill(fulfillment={self._fulfillment!r}, data={self._data!r})"

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Fulfill.decode, (self.encode(),))


# ---- Reject ----------------------------------------------------------------------------

_CODE_BY_STR: Final[dict[str, ErrorCode]] = {c.value: c for c in ErrorCode}
_CODE_BY_BYTES: Final[dict[bytes, ErrorCode]] = {c.value.encode(): c for c in ErrorCode}


def _code_problem(code: str) -> str:
    """Why `code` is not a usable ILP error code, or "" when it is.

    Unknown codes are kept as they are, but they must still be three printable ASCII
    characters whose first letter gives the class (F, T or R), as spec 02 §8 requires.
    """
    if len(code) != 3 or not code.isascii() or not code.isprintable() or " " in code:
        return f"{code!r} is not three printable ASCII characters"
    if code[0] not in "FTR":
        return f"{code!r} does not start with F, T or R"
    return ""


def _check_code(code: str) -> str:
    known = _CODE_BY_STR.get(code) if isinstance(code, str) else None
    if known is not None:
        return known
    if not isinstance(code, str):
        raise InvalidValueError(f"code must be a str, got {type(code).__name__}")
    problem = _code_problem(code)
    if problem:
        raise InvalidValueError(f"invalid ILP error code: {problem}")
    return str(code)


def _check_message(message: str) -> str:
    if not isinstance(message, str):
        raise InvalidValueError(f"message must be a str, got {type(message).__name__}")
    try:
        size = len(message.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidValueError("message cannot be encoded as UTF-8") from None
    if size > MAX_MESSAGE_LENGTH:
        raise InvalidValueError(
            f"message is {size} UTF-8 bytes, at most {MAX_MESSAGE_LENGTH} allowed"
        )
    return message


@dataclass
class _RejectFields:
    code: str
    triggered_by: str
    message: str
    data: bytes = b""


class Reject:
    """ILP Reject (type 14): why a Prepare failed, and which node said so."""

    __slots__ = ("_code", "_data", "_message", "_raw", "_triggered_by")
    __match_args__ = ("code", "triggered_by", "message", "data")
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]] = (
        _RejectFields.__dataclass_fields__
    )

    _code: str
    _triggered_by: str
    _message: str
    _data: bytes
    _raw: bytes | None

    def __init__(self, code: str, triggered_by: str, message: str, data: bytes = b"") -> None:
        self._code = _check_code(code)
        self._triggered_by = (
            "" if triggered_by == "" else _check_address(triggered_by, "triggered_by")
        )
        self._message = _check_message(message)
        self._data = _check_bytes(data, "data", MAX_DATA_LENGTH)
        self._raw = None

    @classmethod
    def _make(
        cls, code: str, triggered_by: str, message: str, data: bytes, raw: bytes | None
    ) -> Reject:
        r: Reject = _new(cls)
        r._code = code
        r._triggered_by = triggered_by
        r._message = message
        r._data = data
        r._raw = raw
        return r

    @property
    def code(self) -> str:
        """Three-character code; an `ErrorCode` member when known, else the plain string."""
        return self._code

    @property
    def error_class(self) -> ErrorClass:
        """Final, temporary or relative, from the code's first letter."""
        return ErrorClass(self._code[0])

    @property
    def triggered_by(self) -> str:
        """Address of the node that created the error, or "" (accepted from the JS stack)."""
        return self._triggered_by

    @property
    def message(self) -> str:
        """Human-readable text for debugging."""
        return self._message

    @property
    def data(self) -> bytes:
        """Machine-readable detail whose meaning depends on the code (e.g. F08)."""
        return self._data

    def with_changes(
        self,
        *,
        code: str | None = None,
        triggered_by: str | None = None,
        message: str | None = None,
        data: bytes | None = None,
    ) -> Reject:
        """A copy with the given fields replaced (validated)."""
        return Reject(
            self._code if code is None else code,
            self._triggered_by if triggered_by is None else triggered_by,
            self._message if message is None else message,
            self._data if data is None else data,
        )

    __replace__ = with_changes

    def encode(self) -> bytes:
        """The packet's canonical bytes (cached)."""
        raw = self._raw
        if raw is not None:
            return raw
        by = self._triggered_by.encode("ascii")
        message = self._message.encode("utf-8")
        data = self._data
        by_prefix = _length_prefix(len(by))
        message_prefix = _length_prefix(len(message))
        data_prefix = _length_prefix(len(data))
        size = (
            3
            + len(by_prefix)
            + len(by)
            + len(message_prefix)
            + len(message)
            + len(data_prefix)
            + len(data)
        )
        raw = self._raw = b"".join(
            (
                b"\x0e",
                _length_prefix(size),
                self._code.encode("ascii"),
                by_prefix,
                by,
                message_prefix,
                message,
                data_prefix,
                data,
            )
        )
        return raw

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview) -> Reject:
        """Parse one complete ILP Reject; `DecodeError` for anything else."""
        if type(raw) is not bytes:
            raw = bytes(raw)
        try:
            if raw[0] != REJECT:
                return _decode_reject_strict(raw)
            n = raw[1]
            if n < 0x80:
                s = 2
            elif n == 0x81:
                n = raw[2]
                s = 3
                if n < 0x80:
                    return _decode_reject_strict(raw)
            elif n == 0x82:
                n = raw[2] << 8 | raw[3]
                s = 4
                if n < 0x100:
                    return _decode_reject_strict(raw)
            else:
                return _decode_reject_strict(raw)
            end = s + n
            if end != len(raw):
                return _decode_reject_strict(raw)
            code = _CODE_BY_BYTES.get(raw[s : s + 3])
            if code is None:
                return _decode_reject_strict(raw)
            p = s + 3
            n = raw[p]
            if n == 0:
                triggered_by = ""
                q = p + 1
            elif n < 0x80:
                q = p + 1 + n
                by = _known_address(raw, p + 1, q) if q < end else None
                if by is None:
                    return _decode_reject_strict(raw)
                triggered_by = by
            else:
                return _decode_reject_strict(raw)
            n = raw[q]
            if n < 0x80:
                q += 1
            elif n == 0x81:
                n = raw[q + 1]
                q += 2
                if n < 0x80:
                    return _decode_reject_strict(raw)
            else:
                return _decode_reject_strict(raw)
            p = q + n
            if p >= end:
                return _decode_reject_strict(raw)
            message = raw[q:p].decode("utf-8")
            n = raw[p]
            if n < 0x80:
                p += 1
            elif n == 0x81:
                n = raw[p + 1]
                p += 2
                if n < 0x80:
                    return _decode_reject_strict(raw)
            elif n == 0x82:
                n = raw[p + 1] << 8 | raw[p + 2]
                p += 3
                if n < 0x100 or n > MAX_DATA_LENGTH:
                    return _decode_reject_strict(raw)
            else:
                return _decode_reject_strict(raw)
            e = p + n
            if e > end:
                return _decode_reject_strict(raw)
        except (IndexError, UnicodeDecodeError):
            return _decode_reject_strict(raw)
        obj: Reject = _new(cls)
        obj._code = code
        obj._triggered_by = triggered_by
        obj._message = message
        obj._data = raw[p:e]
        obj._raw = raw if e == end else None
        return obj

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reject):
            return NotImplemented
        return (
            self._code == other._code
            and self._triggered_by == other._triggered_by
            and self._message == other._message
            and self._data == other._data
        )

    def __hash__(self) -> int:
        return hash((REJECT, str(self._code), self._triggered_by, self._message, self._data))

    def __repr__(self) -> str:
        return (
            f"Reject(code={str(self._code)!r}, triggered_by={self._triggered_by!r}, "
            f"message={self._message!r}, data={self._data!r})"
        )

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (Reject.decode, (self.encode(),))


# ---- any packet ------------------------------------------------------------------------

IlpPacket: TypeAlias = Prepare | Fulfill | Reject


def decode_packet(raw: bytes | bytearray | memoryview) -> IlpPacket:
    """Decode a Prepare, Fulfill or Reject by its type byte; `DecodeError` for anything else."""
    if not raw:
        raise DecodeError("empty input, expected an ILP packet", 0)
    t = raw[0]
    if t == PREPARE:
        return Prepare.decode(raw)
    if t == FULFILL:
        return Fulfill.decode(raw)
    if t == REJECT:
        return Reject.decode(raw)
    raise DecodeError(f"unknown ILP packet type {t} (expected 12, 13 or 14)", 0)


# ---- reject data and helpers -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AmountTooLargeData:
    """F08 Reject data: the amount the rejecting connector got and the most it forwards.

    Both in the units of the link on which the rejecting connector received the packet;
    `maximum_amount` is inclusive (spec 02 §8.1).
    """

    received_amount: int
    maximum_amount: int

    def __post_init__(self) -> None:
        _check_uint64(self.received_amount, "received_amount")
        _check_uint64(self.maximum_amount, "maximum_amount")

    def encode(self) -> bytes:
        return self.received_amount.to_bytes(8, "big") + self.maximum_amount.to_bytes(8, "big")

    @classmethod
    def decode(cls, data: bytes) -> AmountTooLargeData:
        """Read the 16 bytes; bytes after them are ignored (forward compatibility)."""
        if len(data) < 16:
            raise DecodeError(f"F08 data needs 16 bytes, got {len(data)}", 0)
        return cls(_from_bytes(data[0:8], "big"), _from_bytes(data[8:16], "big"))


def _truncate_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes at a character boundary (lone surrogates
    become "?")."""
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore")


def reject_from_error(err: IlpError, triggered_by: str) -> Reject:
    """The Reject a node answers with for an error it detected itself.

    The message is cut to 8 191 UTF-8 bytes and data longer than 32 767 bytes is dropped,
    so this never fails on the error's content; `triggered_by` must be a valid address
    (or "").
    """
    data = err.data if len(err.data) <= MAX_DATA_LENGTH else b""
    return Reject(err.code, triggered_by, _truncate_utf8(err.message, MAX_MESSAGE_LENGTH), data)
