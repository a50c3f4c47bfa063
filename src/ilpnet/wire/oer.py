"""Canonical OER building blocks: fixed and variable integers, length determinants,
octet strings, the 17-digit ILP timestamp and BTP's GeneralizedTime (spec 00)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ilpnet.wire.errors import DecodeError, InvalidValueError

UINT8_MAX = 0xFF
UINT16_MAX = 0xFFFF
UINT32_MAX = 0xFFFF_FFFF
UINT64_MAX = 0xFFFF_FFFF_FFFF_FFFF

_from_bytes = int.from_bytes


class Reader:
    """A cursor over a bytes object; every read checks bounds and canonical form.

    Errors are `DecodeError`s carrying the absolute offset where reading failed.
    """

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> int:
        start = self.pos
        if start + n > self.end:
            raise DecodeError(f"{what} needs {n} bytes, {self.end - start} left", start)
        self.pos = start + n
        return start

    def read_bytes(self, n: int, what: str = "octets") -> bytes:
        start = self._need(n, what)
        return self.buf[start : start + n]

    def skip(self, n: int, what: str = "octets") -> None:
        self._need(n, what)

    def read_uint8(self, what: str = "uint8") -> int:
        start = self._need(1, what)
        return self.buf[start]

    def read_uint16(self, what: str = "uint16") -> int:
        start = self._need(2, what)
        return _from_bytes(self.buf[start : start + 2], "big")

    def read_uint32(self, what: str = "uint32") -> int:
        start = self._need(4, what)
        return _from_bytes(self.buf[start : start + 4], "big")

    def read_uint64(self, what: str = "uint64") -> int:
        start = self._need(8, what)
        return _from_bytes(self.buf[start : start + 8], "big")

    def read_length(self, what: str = "length", *, bounded: bool = True) -> int:
        """A length determinant, short or long form, canonical only.

        When `bounded`, the length must also fit in what is left of the buffer.
        """
        start = self.pos
        if start >= self.end:
            raise DecodeError(f"{what} missing", start)
        first = self.buf[start]
        if first < 0x80:
            self.pos = start + 1
            n = first
        else:
            size = first & 0x7F
            if size == 0:
                raise DecodeError(f"{what}: long form with zero length-of-length", start)
            if size > 8:
                raise DecodeError(f"{what}: length of {size} bytes is too large", start)
            self.pos = start + 1
            raw = self.read_bytes(size, what)
            if raw[0] == 0:
                raise DecodeError(f"{what}: long form has a leading zero byte", start)
            n = _from_bytes(raw, "big")
            if n < 0x80:
                raise DecodeError(f"{what}: long form used for {n} (< 128)", start)
        if bounded and n > self.end - self.pos:
            raise DecodeError(f"{what} of {n} bytes, {self.end - self.pos} left", start)
        return n

    def read_var_octets(self, what: str = "var-octet-string") -> bytes:
        n = self.read_length(what)
        start = self.pos
        self.pos = start + n
        return self.buf[start : start + n]

    def read_var_octets_reader(self, what: str = "var-octet-string") -> Reader:
        """The contents of a var-octet-string as a sub-reader over the same buffer."""
        n = self.read_length(what)
        start = self.pos
        self.pos = start + n
        return Reader(self.buf, start, start + n)

    def read_var_uint(self, what: str = "var-uint", max_bytes: int = 8) -> int:
        start = self.pos
        n = self.read_length(what)
        if n == 0:
            raise DecodeError(f"{what}: zero-length integer", start)
        if n > max_bytes:
            raise DecodeError(f"{what}: {n} bytes is wider than {max_bytes}", start)
        p = self.pos
        self.pos = p + n
        return _from_bytes(self.buf[p : p + n], "big")

    def read_ascii(self, what: str = "ascii string") -> str:
        start = self.pos
        raw = self.read_var_octets(what)
        if not raw.isascii():
            raise DecodeError(f"{what} is not ASCII", start)
        return raw.decode("ascii")

    def read_utf8(self, what: str = "utf-8 string") -> str:
        start = self.pos
        raw = self.read_var_octets(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what} is not valid UTF-8", start) from exc


def encode_length(n: int) -> bytes:
    """A canonical length determinant for `n` bytes."""
    if n < 0x80:
        if n < 0:
            raise InvalidValueError(f"negative length {n}")
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def encode_var_octets(b: bytes) -> bytes:
    n = len(b)
    if n < 0x80:
        return bytes((n,)) + b
    return encode_length(n) + b


def encode_var_uint(v: int) -> bytes:
    """A VarUInt: the value in the fewest big-endian bytes (at least one), length-prefixed."""
    if v < 0:
        raise InvalidValueError(f"var-uint cannot be negative: {v}")
    if v < 0x100:
        return bytes((1, v))
    body = v.to_bytes((v.bit_length() + 7) // 8, "big")
    return encode_length(len(body)) + body


def encode_uint(v: int, size: int, what: str = "integer") -> bytes:
    """A fixed-size big-endian unsigned integer of `size` bytes."""
    if v < 0 or v.bit_length() > size * 8:
        raise InvalidValueError(f"{what} {v} does not fit in {size * 8} bits")
    return v.to_bytes(size, "big")


def encode_ascii(s: str, what: str = "ascii string") -> bytes:
    if not s.isascii():
        raise InvalidValueError(f"{what} must be ASCII: {s!r}")
    return encode_var_octets(s.encode("ascii"))


def encode_utf8(s: str) -> bytes:
    return encode_var_octets(s.encode("utf-8"))


# ---- the ILP 17-digit timestamp -------------------------------------------------------

ILP_TIMESTAMP_LENGTH = 17
_DIGITS = frozenset(b"0123456789")


def encode_ilp_timestamp(t: datetime) -> bytes:
    """`YYYYMMDDHHmmssfff` in UTC, milliseconds truncated; `t` must be aware."""
    if t.tzinfo is None:
        raise InvalidValueError("timestamp must be timezone-aware")
    u = t.astimezone(UTC)
    return b"%04d%02d%02d%02d%02d%02d%03d" % (
        u.year,
        u.month,
        u.day,
        u.hour,
        u.minute,
        u.second,
        u.microsecond // 1000,
    )


def decode_ilp_timestamp(raw: bytes, offset: int = 0) -> datetime:
    """Strict decode of the 17 ASCII digits (no hour 24, no second 60)."""
    if len(raw) != ILP_TIMESTAMP_LENGTH or not _DIGITS.issuperset(raw):
        raise DecodeError(f"timestamp must be 17 ASCII digits, got {bytes(raw)!r}", offset)
    try:
        return datetime(
            int(raw[0:4]),
            int(raw[4:6]),
            int(raw[6:8]),
            int(raw[8:10]),
            int(raw[10:12]),
            int(raw[12:14]),
            int(raw[14:17]) * 1000,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise DecodeError(f"timestamp out of range: {bytes(raw).decode()}", offset) from exc


def truncate_to_millis(t: datetime) -> datetime:
    """The instant as the wire carries it: UTC, whole milliseconds."""
    u = t.astimezone(UTC)
    return u.replace(microsecond=u.microsecond // 1000 * 1000)


# ---- GeneralizedTime (BTP) ----------------------------------------------------------

_GENERALIZED = re.compile(rb"(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d{1,3}))?Z")


def encode_generalized_time(t: datetime) -> bytes:
    """`YYYYMMDDHHmmss.fffZ` (three fraction digits, as the JS reference writes it), prefixed."""
    if t.tzinfo is None:
        raise InvalidValueError("timestamp must be timezone-aware")
    u = t.astimezone(UTC)
    body = b"%04d%02d%02d%02d%02d%02d.%03dZ" % (
        u.year,
        u.month,
        u.day,
        u.hour,
        u.minute,
        u.second,
        u.microsecond // 1000,
    )
    return encode_var_octets(body)


def parse_generalized_time(body: bytes, offset: int = 0) -> datetime:
    """Parse the string form; accepts zero to three fraction digits and the trailing Z."""
    m = _GENERALIZED.fullmatch(body)
    if m is None:
        raise DecodeError(f"not a GeneralizedTime: {body!r}", offset)
    y, mo, d, h, mi, s, frac = m.groups()
    millis = int((frac or b"0").ljust(3, b"0"))
    try:
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), millis * 1000, tzinfo=UTC)
    except ValueError as exc:
        raise DecodeError(f"GeneralizedTime out of range: {body!r}", offset) from exc


def read_generalized_time(r: Reader, what: str = "generalized time") -> datetime:
    start = r.pos
    return parse_generalized_time(r.read_var_octets(what), start)


# ---- SEQUENCE OF ----------------------------------------------------------------------


def read_sequence_count(r: Reader, what: str, min_item_size: int) -> int:
    """The element count of a SEQUENCE OF: a canonical VarUInt (no leading zero byte) that
    the bytes left can hold at `min_item_size` bytes per element (so no huge loops)."""
    start = r.pos
    body = r.read_var_octets(what)
    if not body:
        raise DecodeError(f"{what}: zero-length integer", start)
    if len(body) > 8:
        raise DecodeError(f"{what}: {len(body)} bytes is wider than 8", start)
    if len(body) > 1 and body[0] == 0:
        raise DecodeError(f"{what}: var-uint has a leading zero byte", start)
    count = int.from_bytes(body, "big")
    if count * min_item_size > r.remaining:
        raise DecodeError(f"{what} of {count} items, only {r.remaining} bytes left", start)
    return count
