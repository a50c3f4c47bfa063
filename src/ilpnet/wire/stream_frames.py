"""STREAM frames (spec 07 §6): one frozen dataclass per frame type, its content codec,
and the close codes of §8.

A frame on the wire is `UInt8 type || VarOctetString(content)`; `StreamPacket` in
`ilpnet.wire.stream` frames them. Every integer is a VarUInt of at most 8 bytes, except
`receive_max` and `send_max`, which saturate to 2^64−1 when wider (§6.2). Bytes after the
last known field of a frame's content are ignored (spec 00 §7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any, ClassVar, TypeVar

from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.oer import (
    UINT8_MAX,
    UINT64_MAX,
    Reader,
    encode_ascii,
    encode_utf8,
    encode_var_octets,
    encode_var_uint,
)


class FrameType(IntEnum):
    """The frame type byte (§6)."""

    CONNECTION_CLOSE = 0x01
    CONNECTION_NEW_ADDRESS = 0x02
    CONNECTION_MAX_DATA = 0x03
    CONNECTION_DATA_BLOCKED = 0x04
    CONNECTION_MAX_STREAM_ID = 0x05
    CONNECTION_STREAM_ID_BLOCKED = 0x06
    CONNECTION_ASSET_DETAILS = 0x07
    STREAM_CLOSE = 0x10
    STREAM_MONEY = 0x11
    STREAM_MAX_MONEY = 0x12
    STREAM_MONEY_BLOCKED = 0x13
    STREAM_DATA = 0x14
    STREAM_MAX_DATA = 0x15
    STREAM_DATA_BLOCKED = 0x16
    STREAM_RECEIPT = 0x17


class StreamErrorCode(IntEnum):
    """Why a connection or stream was closed (§8); carried as a UInt8.

    Frames keep codes outside this table as plain ints.
    """

    NO_ERROR = 0x01
    INTERNAL_ERROR = 0x02
    ENDPOINT_BUSY = 0x03
    FLOW_CONTROL_ERROR = 0x04
    STREAM_ID_ERROR = 0x05
    STREAM_STATE_ERROR = 0x06
    FRAME_FORMAT_ERROR = 0x07
    PROTOCOL_VIOLATION = 0x08
    APPLICATION_ERROR = 0x09


_KNOWN_ERROR_CODES: dict[int, StreamErrorCode] = {c.value: c for c in StreamErrorCode}


def _error_code(value: int) -> int:
    """The enum member for a known code, else the int itself."""
    return _KNOWN_ERROR_CODES.get(value, value)


_from_bytes = int.from_bytes
_new = object.__new__
T = TypeVar("T")


def _unchecked_constructor(cls: type[T]) -> Callable[..., T]:
    """A positional constructor of the slotted frame dataclass `cls` that skips
    `__post_init__`.

    Decoders use it for values the reader has already range-checked (a VarUInt of at most
    8 bytes is a uint64, a UInt8 is a UInt8): it writes the slots directly, as a frozen
    dataclass's own `__init__` does, at about half the cost.
    """
    setters = [getattr(cls, f.name).__set__ for f in fields(cls)]  # type: ignore[arg-type]
    if len(setters) == 1:
        (s1,) = setters

        def build1(a: Any) -> T:
            obj = _new(cls)
            s1(obj, a)
            return obj

        return build1
    if len(setters) == 2:
        s1, s2 = setters

        def build2(a: Any, b: Any) -> T:
            obj = _new(cls)
            s1(obj, a)
            s2(obj, b)
            return obj

        return build2
    if len(setters) == 3:
        s1, s2, s3 = setters

        def build3(a: Any, b: Any, c: Any) -> T:
            obj = _new(cls)
            s1(obj, a)
            s2(obj, b)
            s3(obj, c)
            return obj

        return build3

    raise TypeError(f"_unchecked_constructor supports 1 to 3 fields, {cls.__name__} has more")


def _check_uint(value: int, what: str) -> None:
    if not 0 <= value <= UINT64_MAX:
        raise InvalidValueError(f"{what} {value} is not a uint64")


def _check_uint8(value: int, what: str) -> None:
    if not 0 <= value <= UINT8_MAX:
        raise InvalidValueError(f"{what} {value} does not fit in a UInt8")


def read_var_uint(r: Reader, what: str) -> int:
    """`r.read_var_uint(what)` with an inlined fast path for the common short form."""
    pos = r.pos
    buf = r.buf
    if pos < r.end:
        n = buf[pos]
        if 0 < n <= 8:
            stop = pos + 1 + n
            if stop <= r.end:
                r.pos = stop
                return _from_bytes(buf[pos + 1 : stop], "big")
    return r.read_var_uint(what)  # anything unusual, with its precise error


def read_saturating_var_uint(r: Reader, what: str) -> int:
    """A VarUInt of any width; values above 2^64−1 read as 2^64−1 (§6.2)."""
    start = r.pos
    raw = r.read_var_octets(what)
    if not raw:
        raise DecodeError(f"{what}: zero-length integer", start)
    return min(int.from_bytes(raw, "big"), UINT64_MAX)


# ---- connection frames ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionClose:
    """The sender closes the whole connection (ASN.1: ConnectionError)."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_CLOSE
    error_code: int
    error_message: str = ""

    def __post_init__(self) -> None:
        _check_uint8(self.error_code, "error_code")

    def encode_content(self) -> bytes:
        return bytes((self.error_code,)) + encode_utf8(self.error_message)

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionClose:
        code = _error_code(r.read_uint8("ConnectionClose.errorCode"))
        return _new_connection_close(code, r.read_utf8("ConnectionClose.errorMessage"))


@dataclass(frozen=True, slots=True)
class ConnectionNewAddress:
    """Where the frame sender wants Prepares for it sent ("send to this address")."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_NEW_ADDRESS
    source_account: str

    def __post_init__(self) -> None:
        if not self.source_account.isascii():
            raise InvalidValueError(f"source_account must be ASCII: {self.source_account!r}")

    def encode_content(self) -> bytes:
        return encode_ascii(self.source_account, "source_account")

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionNewAddress:
        return _new_connection_new_address(r.read_ascii("ConnectionNewAddress.sourceAccount"))


@dataclass(frozen=True, slots=True)
class ConnectionMaxData:
    """Total bytes (over all streams) the frame sender will accept."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_MAX_DATA
    max_offset: int

    def __post_init__(self) -> None:
        _check_uint(self.max_offset, "max_offset")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.max_offset)

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionMaxData:
        return _new_connection_max_data(read_var_uint(r, "ConnectionMaxData.maxOffset"))


@dataclass(frozen=True, slots=True)
class ConnectionDataBlocked:
    """Total bytes the frame sender wants to send but may not yet."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_DATA_BLOCKED
    max_offset: int

    def __post_init__(self) -> None:
        _check_uint(self.max_offset, "max_offset")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.max_offset)

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionDataBlocked:
        return _new_connection_data_blocked(read_var_uint(r, "ConnectionDataBlocked.maxOffset"))


@dataclass(frozen=True, slots=True)
class ConnectionMaxStreamId:
    """Highest stream id the frame sender will accept."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_MAX_STREAM_ID
    max_stream_id: int

    def __post_init__(self) -> None:
        _check_uint(self.max_stream_id, "max_stream_id")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.max_stream_id)

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionMaxStreamId:
        return _new_connection_max_stream_id(read_var_uint(r, "ConnectionMaxStreamId.maxStreamId"))


@dataclass(frozen=True, slots=True)
class ConnectionStreamIdBlocked:
    """Highest stream id the frame sender would like to open."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_STREAM_ID_BLOCKED
    max_stream_id: int

    def __post_init__(self) -> None:
        _check_uint(self.max_stream_id, "max_stream_id")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.max_stream_id)

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionStreamIdBlocked:
        return _new_connection_stream_id_blocked(
            read_var_uint(r, "ConnectionStreamIdBlocked.maxStreamId")
        )


@dataclass(frozen=True, slots=True)
class ConnectionAssetDetails:
    """The frame sender's asset code and scale; fixed for the connection's life."""

    TYPE: ClassVar[FrameType] = FrameType.CONNECTION_ASSET_DETAILS
    source_asset_code: str
    source_asset_scale: int

    def __post_init__(self) -> None:
        _check_uint8(self.source_asset_scale, "source_asset_scale")

    def encode_content(self) -> bytes:
        return encode_utf8(self.source_asset_code) + bytes((self.source_asset_scale,))

    @classmethod
    def decode_content(cls, r: Reader) -> ConnectionAssetDetails:
        code = r.read_utf8("ConnectionAssetDetails.sourceAssetCode")
        return _new_connection_asset_details(
            code, r.read_uint8("ConnectionAssetDetails.sourceAssetScale")
        )


# ---- stream frames --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamClose:
    """Close one stream, normally (NO_ERROR) or with an error."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_CLOSE
    stream_id: int
    error_code: int
    error_message: str = ""

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint8(self.error_code, "error_code")

    def encode_content(self) -> bytes:
        return (
            encode_var_uint(self.stream_id)
            + bytes((self.error_code,))
            + encode_utf8(self.error_message)
        )

    @classmethod
    def decode_content(cls, r: Reader) -> StreamClose:
        stream_id = read_var_uint(r, "StreamClose.streamId")
        code = _error_code(r.read_uint8("StreamClose.errorCode"))
        return _new_stream_close(stream_id, code, r.read_utf8("StreamClose.errorMessage"))


@dataclass(frozen=True, slots=True)
class StreamMoney:
    """The Prepare's amount goes to this stream in proportion to `shares` (§9.3)."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_MONEY
    stream_id: int
    shares: int

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint(self.shares, "shares")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.stream_id) + encode_var_uint(self.shares)

    @classmethod
    def decode_content(cls, r: Reader) -> StreamMoney:
        stream_id = read_var_uint(r, "StreamMoney.streamId")
        return _new_stream_money(stream_id, read_var_uint(r, "StreamMoney.shares"))


@dataclass(frozen=True, slots=True)
class StreamMaxMoney:
    """Total the frame sender will receive on the stream, and how much it has received,
    in its own units. `receive_max` = 2^64−1 means unlimited."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_MAX_MONEY
    stream_id: int
    receive_max: int
    total_received: int

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint(self.receive_max, "receive_max")
        _check_uint(self.total_received, "total_received")

    def encode_content(self) -> bytes:
        return (
            encode_var_uint(self.stream_id)
            + encode_var_uint(self.receive_max)
            + encode_var_uint(self.total_received)
        )

    @classmethod
    def decode_content(cls, r: Reader) -> StreamMaxMoney:
        stream_id = read_var_uint(r, "StreamMaxMoney.streamId")
        receive_max = read_saturating_var_uint(r, "StreamMaxMoney.receiveMax")
        return _new_stream_max_money(
            stream_id, receive_max, read_var_uint(r, "StreamMaxMoney.totalReceived")
        )


@dataclass(frozen=True, slots=True)
class StreamMoneyBlocked:
    """The frame sender would send `send_max` in total on the stream but is blocked."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_MONEY_BLOCKED
    stream_id: int
    send_max: int
    total_sent: int

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint(self.send_max, "send_max")
        _check_uint(self.total_sent, "total_sent")

    def encode_content(self) -> bytes:
        return (
            encode_var_uint(self.stream_id)
            + encode_var_uint(self.send_max)
            + encode_var_uint(self.total_sent)
        )

    @classmethod
    def decode_content(cls, r: Reader) -> StreamMoneyBlocked:
        stream_id = read_var_uint(r, "StreamMoneyBlocked.streamId")
        send_max = read_saturating_var_uint(r, "StreamMoneyBlocked.sendMax")
        return _new_stream_money_blocked(
            stream_id, send_max, read_var_uint(r, "StreamMoneyBlocked.totalSent")
        )


@dataclass(frozen=True, slots=True)
class StreamData:
    """Bytes of the stream starting at byte `offset`."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_DATA
    stream_id: int
    offset: int
    data: bytes

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint(self.offset, "offset")

    def encode_content(self) -> bytes:
        return (
            encode_var_uint(self.stream_id)
            + encode_var_uint(self.offset)
            + encode_var_octets(self.data)
        )

    @classmethod
    def decode_content(cls, r: Reader) -> StreamData:
        stream_id = read_var_uint(r, "StreamData.streamId")
        offset = read_var_uint(r, "StreamData.offset")
        return _new_stream_data(stream_id, offset, r.read_var_octets("StreamData.data"))


@dataclass(frozen=True, slots=True)
class StreamMaxData:
    """Highest byte offset of the stream the frame sender will accept."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_MAX_DATA
    stream_id: int
    max_offset: int

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint(self.max_offset, "max_offset")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.stream_id) + encode_var_uint(self.max_offset)

    @classmethod
    def decode_content(cls, r: Reader) -> StreamMaxData:
        stream_id = read_var_uint(r, "StreamMaxData.streamId")
        return _new_stream_max_data(stream_id, read_var_uint(r, "StreamMaxData.maxOffset"))


@dataclass(frozen=True, slots=True)
class StreamDataBlocked:
    """Byte offset of the stream the frame sender wants to send up to but may not yet."""

    TYPE: ClassVar[FrameType] = FrameType.STREAM_DATA_BLOCKED
    stream_id: int
    max_offset: int

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")
        _check_uint(self.max_offset, "max_offset")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.stream_id) + encode_var_uint(self.max_offset)

    @classmethod
    def decode_content(cls, r: Reader) -> StreamDataBlocked:
        stream_id = read_var_uint(r, "StreamDataBlocked.streamId")
        return _new_stream_data_blocked(stream_id, read_var_uint(r, "StreamDataBlocked.maxOffset"))


@dataclass(frozen=True, slots=True)
class StreamReceipt:
    """A receipt proving the total received on a stream (RFC 0039, deprecated; §12).

    The receipt bytes are kept opaque here; `ilpnet.crypto.stream_keys` reads and checks them.
    """

    TYPE: ClassVar[FrameType] = FrameType.STREAM_RECEIPT
    stream_id: int
    receipt: bytes

    def __post_init__(self) -> None:
        _check_uint(self.stream_id, "stream_id")

    def encode_content(self) -> bytes:
        return encode_var_uint(self.stream_id) + encode_var_octets(self.receipt)

    @classmethod
    def decode_content(cls, r: Reader) -> StreamReceipt:
        stream_id = read_var_uint(r, "StreamReceipt.streamId")
        return _new_stream_receipt(stream_id, r.read_var_octets("StreamReceipt.receipt"))


_new_connection_close = _unchecked_constructor(ConnectionClose)
_new_connection_new_address = _unchecked_constructor(ConnectionNewAddress)
_new_connection_max_data = _unchecked_constructor(ConnectionMaxData)
_new_connection_data_blocked = _unchecked_constructor(ConnectionDataBlocked)
_new_connection_max_stream_id = _unchecked_constructor(ConnectionMaxStreamId)
_new_connection_stream_id_blocked = _unchecked_constructor(ConnectionStreamIdBlocked)
_new_connection_asset_details = _unchecked_constructor(ConnectionAssetDetails)
_new_stream_close = _unchecked_constructor(StreamClose)
_new_stream_money = _unchecked_constructor(StreamMoney)
_new_stream_max_money = _unchecked_constructor(StreamMaxMoney)
_new_stream_money_blocked = _unchecked_constructor(StreamMoneyBlocked)
_new_stream_data = _unchecked_constructor(StreamData)
_new_stream_max_data = _unchecked_constructor(StreamMaxData)
_new_stream_data_blocked = _unchecked_constructor(StreamDataBlocked)
_new_stream_receipt = _unchecked_constructor(StreamReceipt)


Frame = (
    ConnectionClose
    | ConnectionNewAddress
    | ConnectionMaxData
    | ConnectionDataBlocked
    | ConnectionMaxStreamId
    | ConnectionStreamIdBlocked
    | ConnectionAssetDetails
    | StreamClose
    | StreamMoney
    | StreamMaxMoney
    | StreamMoneyBlocked
    | StreamData
    | StreamMaxData
    | StreamDataBlocked
    | StreamReceipt
)

FRAME_CLASSES: dict[int, type[Frame]] = {
    cls.TYPE.value: cls
    for cls in (
        ConnectionClose,
        ConnectionNewAddress,
        ConnectionMaxData,
        ConnectionDataBlocked,
        ConnectionMaxStreamId,
        ConnectionStreamIdBlocked,
        ConnectionAssetDetails,
        StreamClose,
        StreamMoney,
        StreamMaxMoney,
        StreamMoneyBlocked,
        StreamData,
        StreamMaxData,
        StreamDataBlocked,
        StreamReceipt,
    )
}
"""Frame class by type byte; types not listed are skipped on decode."""
