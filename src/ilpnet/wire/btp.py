"""BTP 2.0 packets (spec 04): the link-layer envelope that pairs requests with responses
and carries ILP packets, auth and settlement side-protocols as protocol-data entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import ClassVar, Self, TypeAlias, TypeVar
from uuid import UUID

from ilpnet.wire.errors import DecodeError, ErrorCode, IlpError, InvalidValueError
from ilpnet.wire.oer import (
    UINT32_MAX,
    UINT64_MAX,
    Reader,
    encode_ascii,
    encode_generalized_time,
    encode_uint,
    encode_var_octets,
    encode_var_uint,
    read_generalized_time,
    read_sequence_count,
    truncate_to_millis,
)


class BtpType(IntEnum):
    """The packet type byte."""

    RESPONSE = 1
    ERROR = 2
    PREPARE = 3  # legacy
    FULFILL = 4  # legacy
    REJECT = 5  # legacy
    MESSAGE = 6
    TRANSFER = 7


class ContentType(IntEnum):
    """How a protocol-data entry's bytes are to be read."""

    OCTET_STREAM = 0
    TEXT = 1  # text/plain; charset=utf-8
    JSON = 2  # application/json, UTF-8


class BtpErrorCode(StrEnum):
    """BTP-level error codes (spec 04 §5); unrelated to the ILP codes they resemble."""

    T00_UNREACHABLE = "T00"
    F00_NOT_ACCEPTED = "F00"
    F01_INVALID_FIELDS = "F01"
    F03_TRANSFER_NOT_FOUND = "F03"
    F04_INVALID_FULFILLMENT = "F04"
    F05_DUPLICATE_ID = "F05"
    F06_ALREADY_ROLLED_BACK = "F06"
    F07_ALREADY_FULFILLED = "F07"
    F08_INSUFFICIENT_BALANCE = "F08"

    @property
    def error_name(self) -> str:
        """The name the reference writes beside the code, e.g. "NotAcceptedError"."""
        return BTP_ERROR_NAMES[self]

    @property
    def retryable(self) -> bool:
        return self.value.startswith("T")


BTP_ERROR_NAMES: dict[BtpErrorCode, str] = {
    BtpErrorCode.T00_UNREACHABLE: "UnreachableError",
    BtpErrorCode.F00_NOT_ACCEPTED: "NotAcceptedError",
    BtpErrorCode.F01_INVALID_FIELDS: "InvalidFieldsError",
    BtpErrorCode.F03_TRANSFER_NOT_FOUND: "TransferNotFoundError",
    BtpErrorCode.F04_INVALID_FULFILLMENT: "InvalidFulfillmentError",
    BtpErrorCode.F05_DUPLICATE_ID: "DuplicateIdError",
    BtpErrorCode.F06_ALREADY_ROLLED_BACK: "AlreadyRolledBackError",
    BtpErrorCode.F07_ALREADY_FULFILLED: "AlreadyFulfilledError",
    BtpErrorCode.F08_INSUFFICIENT_BALANCE: "InsufficientBalanceError",
}

ILP = "ilp"
AUTH = "auth"
AUTH_USERNAME = "auth_username"
AUTH_TOKEN = "auth_token"  # noqa: S105 - a protocol-data name, not a secret

MAX_ERROR_DATA = 8192
_HASH_LENGTH = 32
_TRANSFER_ID_LENGTH = 16
# the smallest protocol-data entry: empty name, content type, empty data
_MIN_ENTRY_SIZE = 3


# ---- field checks shared by construction and decoding --------------------------------


def _check_uint(value: int, maximum: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidValueError(f"{what} must be an integer in 0..{maximum}, got {value!r}")


def _check_bytes(value: bytes, what: str, length: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise InvalidValueError(f"{what} must be bytes, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise InvalidValueError(f"{what} must be {length} bytes, got {len(value)}")


def _check_ascii(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.isascii():
        raise InvalidValueError(f"{what} must be an ASCII string, got {value!r}")


def _utc_millis(value: datetime, what: str) -> datetime:
    """The instant as the wire carries it: aware, UTC, whole milliseconds."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    try:
        return truncate_to_millis(value)
    except OverflowError as exc:
        raise InvalidValueError(f"{what} is out of range in UTC: {value!r}") from exc


def _check_common(request_id: int, protocol_data: tuple[ProtocolData, ...]) -> None:
    """Checks every packet shares."""
    _check_uint(request_id, UINT32_MAX, "requestId")
    if not isinstance(protocol_data, tuple):
        raise InvalidValueError(f"protocolData must be a tuple, got {protocol_data!r}")
    for entry in protocol_data:
        if not isinstance(entry, ProtocolData):
            raise InvalidValueError(f"protocolData entries must be ProtocolData, got {entry!r}")


# ---- protocol data ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProtocolData:
    """One named sub-protocol entry; the first entry of a packet is the primary one."""

    protocol_name: str
    content_type: ContentType
    data: bytes = b""

    def __post_init__(self) -> None:
        _check_ascii(self.protocol_name, "protocolName")
        try:
            kind = ContentType(self.content_type)
        except ValueError as exc:
            raise InvalidValueError(f"unknown contentType {self.content_type!r}") from exc
        object.__setattr__(self, "content_type", kind)
        _check_bytes(self.data, f"protocolData {self.protocol_name!r} data")

    @classmethod
    def octets(cls, protocol_name: str, data: bytes) -> Self:
        return cls(protocol_name, ContentType.OCTET_STREAM, data)

    @classmethod
    def text(cls, protocol_name: str, text: str) -> Self:
        return cls(protocol_name, ContentType.TEXT, text.encode("utf-8"))

    def decode_text(self) -> str:
        """The data as UTF-8 text (for text/plain and JSON entries)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidValueError(f"protocolData {self.protocol_name!r} is not UTF-8") from exc

    def encode(self) -> bytes:
        return (
            encode_ascii(self.protocol_name, "protocolName")
            + bytes((self.content_type,))
            + encode_var_octets(self.data)
        )

    @classmethod
    def read(cls, r: Reader) -> Self:
        name = r.read_ascii("protocolName")
        start = r.pos
        kind = r.read_uint8("contentType")
        if kind not in _CONTENT_TYPES:
            raise DecodeError(f"unknown contentType {kind}", start)
        return cls(name, ContentType(kind), r.read_var_octets("protocolData data"))


_CONTENT_TYPES = frozenset(int(c) for c in ContentType)


def _encode_entries(entries: tuple[ProtocolData, ...]) -> bytes:
    return encode_var_uint(len(entries)) + b"".join(e.encode() for e in entries)


def _read_entries(r: Reader) -> tuple[ProtocolData, ...]:
    count = read_sequence_count(r, "protocolData count", _MIN_ENTRY_SIZE)
    return tuple(ProtocolData.read(r) for _ in range(count))


# ---- packets ------------------------------------------------------------------------


def _envelope(kind: BtpType, request_id: int, content: bytes) -> bytes:
    return bytes((kind,)) + request_id.to_bytes(4, "big") + encode_var_octets(content)


@dataclass(frozen=True, slots=True)
class _EntriesOnly:
    """A packet that is a request id and protocol-data entries, nothing else."""

    TYPE: ClassVar[BtpType]
    request_id: int
    protocol_data: tuple[ProtocolData, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.request_id, self.protocol_data)

    def encode(self) -> bytes:
        return _envelope(self.TYPE, self.request_id, _encode_entries(self.protocol_data))

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        return _decode_as(cls, raw)

    @classmethod
    def _read(cls, request_id: int, r: Reader) -> Self:
        return cls(request_id, _read_entries(r))


@dataclass(frozen=True, slots=True)
class Response(_EntriesOnly):
    """Success answer to a request, same requestId."""

    TYPE: ClassVar[BtpType] = BtpType.RESPONSE


@dataclass(frozen=True, slots=True)
class Error:
    """Failure answer to a request, modelled on the ILP Reject."""

    TYPE: ClassVar[BtpType] = BtpType.ERROR
    request_id: int
    code: str
    name: str
    triggered_at: datetime
    data: bytes = b""
    protocol_data: tuple[ProtocolData, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.request_id, self.protocol_data)
        _check_ascii(self.code, "error code")
        if len(self.code) != 3:
            raise InvalidValueError(f"error code must be 3 characters, got {self.code!r}")
        _check_ascii(self.name, "error name")
        object.__setattr__(self, "triggered_at", _utc_millis(self.triggered_at, "triggeredAt"))
        _check_bytes(self.data, "error data")
        if len(self.data) > MAX_ERROR_DATA:
            raise InvalidValueError(f"error data of {len(self.data)} bytes > {MAX_ERROR_DATA}")

    def encode(self) -> bytes:
        content = b"".join(
            (
                self.code.encode("ascii"),
                encode_ascii(self.name, "error name"),
                encode_generalized_time(self.triggered_at),
                encode_var_octets(self.data),
                _encode_entries(self.protocol_data),
            )
        )
        return _envelope(self.TYPE, self.request_id, content)

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        return _decode_as(cls, raw)

    @classmethod
    def _read(cls, request_id: int, r: Reader) -> Self:
        start = r.pos
        code = r.read_bytes(3, "error code")
        if not code.isascii():
            raise DecodeError(f"error code is not ASCII: {code!r}", start)
        name = r.read_ascii("error name")
        triggered_at = read_generalized_time(r, "triggeredAt")
        start = r.pos
        data = r.read_var_octets("error data")
        if len(data) > MAX_ERROR_DATA:
            raise DecodeError(f"error data of {len(data)} bytes > {MAX_ERROR_DATA}", start)
        return cls(request_id, code.decode("ascii"), name, triggered_at, data, _read_entries(r))


@dataclass(frozen=True, slots=True)
class LegacyPrepare:
    """Type 3, from BTP drafts before ILPv4; decoded for completeness, never sent."""

    TYPE: ClassVar[BtpType] = BtpType.PREPARE
    request_id: int
    transfer_id: UUID
    amount: int
    execution_condition: bytes
    expires_at: datetime
    protocol_data: tuple[ProtocolData, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.request_id, self.protocol_data)
        _check_transfer_id(self.transfer_id)
        _check_uint(self.amount, UINT64_MAX, "amount")
        _check_bytes(self.execution_condition, "executionCondition", _HASH_LENGTH)
        object.__setattr__(self, "expires_at", _utc_millis(self.expires_at, "expiresAt"))

    def encode(self) -> bytes:
        content = b"".join(
            (
                self.transfer_id.bytes,
                encode_uint(self.amount, 8, "amount"),
                self.execution_condition,
                encode_generalized_time(self.expires_at),
                _encode_entries(self.protocol_data),
            )
        )
        return _envelope(self.TYPE, self.request_id, content)

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        return _decode_as(cls, raw)

    @classmethod
    def _read(cls, request_id: int, r: Reader) -> Self:
        transfer_id = UUID(bytes=r.read_bytes(_TRANSFER_ID_LENGTH, "transferId"))
        amount = r.read_uint64("amount")
        condition = r.read_bytes(_HASH_LENGTH, "executionCondition")
        expires_at = read_generalized_time(r, "expiresAt")
        return cls(request_id, transfer_id, amount, condition, expires_at, _read_entries(r))


@dataclass(frozen=True, slots=True)
class LegacyFulfill:
    """Type 4, from BTP drafts before ILPv4; decoded for completeness, never sent."""

    TYPE: ClassVar[BtpType] = BtpType.FULFILL
    request_id: int
    transfer_id: UUID
    fulfillment: bytes
    protocol_data: tuple[ProtocolData, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.request_id, self.protocol_data)
        _check_transfer_id(self.transfer_id)
        _check_bytes(self.fulfillment, "fulfillment", _HASH_LENGTH)

    def encode(self) -> bytes:
        content = self.transfer_id.bytes + self.fulfillment + _encode_entries(self.protocol_data)
        return _envelope(self.TYPE, self.request_id, content)

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        return _decode_as(cls, raw)

    @classmethod
    def _read(cls, request_id: int, r: Reader) -> Self:
        transfer_id = UUID(bytes=r.read_bytes(_TRANSFER_ID_LENGTH, "transferId"))
        fulfillment = r.read_bytes(_HASH_LENGTH, "fulfillment")
        return cls(request_id, transfer_id, fulfillment, _read_entries(r))


@dataclass(frozen=True, slots=True)
class LegacyReject:
    """Type 5, from BTP drafts before ILPv4; decoded for completeness, never sent."""

    TYPE: ClassVar[BtpType] = BtpType.REJECT
    request_id: int
    transfer_id: UUID
    protocol_data: tuple[ProtocolData, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.request_id, self.protocol_data)
        _check_transfer_id(self.transfer_id)

    def encode(self) -> bytes:
        content = self.transfer_id.bytes + _encode_entries(self.protocol_data)
        return _envelope(self.TYPE, self.request_id, content)

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        return _decode_as(cls, raw)

    @classmethod
    def _read(cls, request_id: int, r: Reader) -> Self:
        transfer_id = UUID(bytes=r.read_bytes(_TRANSFER_ID_LENGTH, "transferId"))
        return cls(request_id, transfer_id, _read_entries(r))


@dataclass(frozen=True, slots=True)
class Message(_EntriesOnly):
    """A generic request; its primary entry (`ilp`, `auth`, ...) says what is asked."""

    TYPE: ClassVar[BtpType] = BtpType.MESSAGE


@dataclass(frozen=True, slots=True)
class Transfer:
    """A request saying "I have just paid you `amount` more" (settlement)."""

    TYPE: ClassVar[BtpType] = BtpType.TRANSFER
    request_id: int
    amount: int
    protocol_data: tuple[ProtocolData, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.request_id, self.protocol_data)
        _check_uint(self.amount, UINT64_MAX, "amount")

    def encode(self) -> bytes:
        content = encode_uint(self.amount, 8, "amount") + _encode_entries(self.protocol_data)
        return _envelope(self.TYPE, self.request_id, content)

    @classmethod
    def decode(cls, raw: bytes) -> Self:
        return _decode_as(cls, raw)

    @classmethod
    def _read(cls, request_id: int, r: Reader) -> Self:
        return cls(request_id, r.read_uint64("amount"), _read_entries(r))


def _check_transfer_id(value: UUID) -> None:
    if not isinstance(value, UUID):
        raise InvalidValueError(f"transferId must be a UUID, got {value!r}")


BtpPacket: TypeAlias = (
    Response | Error | LegacyPrepare | LegacyFulfill | LegacyReject | Message | Transfer
)
BtpRequest: TypeAlias = Message | Transfer | LegacyPrepare | LegacyFulfill | LegacyReject
BtpResponse: TypeAlias = Response | Error

_PACKET_CLASSES: dict[int, type[BtpPacket]] = {
    cls.TYPE: cls
    for cls in (Response, Error, LegacyPrepare, LegacyFulfill, LegacyReject, Message, Transfer)
}
_P = TypeVar("_P", bound="BtpPacket | _EntriesOnly")
REQUEST_TYPES = frozenset(
    {BtpType.MESSAGE, BtpType.TRANSFER, BtpType.PREPARE, BtpType.FULFILL, BtpType.REJECT}
)


def decode_btp(raw: bytes) -> BtpPacket:
    """Any BTP packet. Bytes after the packet's content length are refused; bytes after
    the last known field inside the content are ignored (spec 00 §7)."""
    r = Reader(bytes(raw))
    kind = r.read_uint8("BTP type")
    cls = _PACKET_CLASSES.get(kind)
    if cls is None:
        raise DecodeError(f"unknown BTP packet type {kind}", 0)
    request_id = r.read_uint32("requestId")
    content = r.read_var_octets_reader("BTP content")
    if r.remaining:
        raise DecodeError(f"{r.remaining} bytes after the BTP packet", r.pos)
    try:
        return cls._read(request_id, content)
    except InvalidValueError as exc:
        raise DecodeError(exc.message, content.pos) from exc


def _decode_as(cls: type[_P], raw: bytes) -> _P:
    packet = decode_btp(raw)
    if not isinstance(packet, cls):
        raise DecodeError(f"expected BTP {cls.TYPE.name}, got {packet.TYPE.name}", 0)
    return packet


def is_request(packet: BtpPacket) -> bool:
    return packet.TYPE in REQUEST_TYPES


# ---- what a link needs ----------------------------------------------------------------


def find_protocol_data(packet: BtpPacket, protocol_name: str) -> ProtocolData | None:
    """The entry called `protocol_name`, or None."""
    for entry in packet.protocol_data:
        if entry.protocol_name == protocol_name:
            return entry
    return None


def find_ilp(packet: BtpPacket) -> bytes | None:
    """The ILP packet carried in the `ilp` entry, or None."""
    entry = find_protocol_data(packet, ILP)
    return None if entry is None else entry.data


def ilp_message(request_id: int, ilp_packet: bytes) -> Message:
    """A request carrying an ILP Prepare."""
    return Message(request_id, (ProtocolData.octets(ILP, ilp_packet),))


def ilp_response(request_id: int, ilp_packet: bytes) -> Response:
    """The answer carrying the ILP Fulfill or Reject."""
    return Response(request_id, (ProtocolData.octets(ILP, ilp_packet),))


def error_for(
    request_id: int, code: BtpErrorCode, triggered_at: datetime, data: bytes = b""
) -> Error:
    """An Error answering `request_id`, named as the reference names `code`."""
    return Error(request_id, code.value, code.error_name, triggered_at, data)


@dataclass(frozen=True, slots=True)
class AuthCredentials:
    """What a client presents in its auth Message; the token is kept out of repr."""

    token: str = field(repr=False)
    username: str | None = None


def auth_message(request_id: int, token: str, username: str | None = None) -> Message:
    """The client's first Message: `auth`, then `auth_username` (if any), `auth_token`."""
    entries = [ProtocolData.octets(AUTH, b"")]
    if username is not None:
        entries.append(ProtocolData.text(AUTH_USERNAME, username))
    entries.append(ProtocolData.text(AUTH_TOKEN, token))
    return Message(request_id, tuple(entries))


class AuthRefused(IlpError):
    """An auth Message that breaks a rule; answer `F00 NotAcceptedError` and close."""

    btp_code = BtpErrorCode.F00_NOT_ACCEPTED

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F00_BAD_REQUEST, message)


def read_auth(packet: BtpPacket) -> AuthCredentials:
    """The credentials of an auth Message; raises `AuthRefused` when it is not one."""
    if not isinstance(packet, Message):
        raise AuthRefused(f"first packet must be a Message, got {packet.TYPE.name}")
    names = [e.protocol_name for e in packet.protocol_data]
    if not names or names[0] != AUTH:
        raise AuthRefused("primary protocolData entry must be 'auth'")
    if len(set(names)) != len(names):
        raise AuthRefused("duplicate protocolData names")
    token = find_protocol_data(packet, AUTH_TOKEN)
    if token is None:
        raise AuthRefused("auth_token entry missing")
    username = find_protocol_data(packet, AUTH_USERNAME)
    try:
        return AuthCredentials(
            token.decode_text(), None if username is None else username.decode_text()
        )
    except InvalidValueError as exc:
        raise AuthRefused(exc.message) from exc
