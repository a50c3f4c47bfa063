"""CCP route broadcasting (spec 06): route control and route update messages, carried as
the data of zero-amount Prepares to `peer.route.control` / `peer.route.update`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, IntFlag
from typing import ClassVar, Final, Self, TypeAlias
from uuid import UUID

from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.ildcp import (
    PEER_PROTOCOL_CONDITION,
    PEER_PROTOCOL_FULFILLMENT,
    aware_utc_millis,
    check_peer_protocol_prepare,
)
from ilpnet.wire.oer import (
    UINT16_MAX,
    UINT32_MAX,
    Reader,
    encode_ascii,
    encode_uint,
    encode_utf8,
    encode_var_octets,
    encode_var_uint,
    read_sequence_count,
)
from ilpnet.wire.packet import Fulfill, Prepare

PEER_ROUTE_CONTROL: Final = "peer.route.control"
PEER_ROUTE_UPDATE: Final = "peer.route.update"

AUTH_LENGTH: Final = 32
NO_ROUTING_TABLE: Final = UUID(int=0)
"""The table id a node sends before it has heard from the speaker."""

_UUID_LENGTH = 16
# smallest encodings, for bounding list counts before looping
_MIN_STRING = 1  # an empty var-octet-string
_MIN_ROUTE = 1 + 2 + AUTH_LENGTH + 2  # empty prefix, empty path, auth, no props
_MIN_PROP = 1 + 2 + 1  # meta, id, empty value


class Mode(IntEnum):
    """What the receiver asks of the speaker."""

    IDLE = 0
    SYNC = 1


class PropFlag(IntFlag):
    """Bits of a route property's meta byte; the low four bits are reserved (zero)."""

    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    UTF8 = 0x10


_KNOWN_FLAGS = PropFlag.OPTIONAL | PropFlag.TRANSITIVE | PropFlag.PARTIAL | PropFlag.UTF8
_MODES = frozenset(int(m) for m in Mode)


def _check_uint(value: int, maximum: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise InvalidValueError(f"{what} must be an integer in 0..{maximum}, got {value!r}")


def _check_ascii(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.isascii():
        raise InvalidValueError(f"{what} must be an ASCII string, got {value!r}")


def _check_uuid(value: UUID, what: str) -> None:
    if not isinstance(value, UUID):
        raise InvalidValueError(f"{what} must be a uuid.UUID, got {value!r}")


def _check_tuple(value: tuple[object, ...], what: str, item: type) -> None:
    if not isinstance(value, tuple):
        raise InvalidValueError(f"{what} must be a tuple, got {type(value).__name__}")
    for entry in value:
        if not isinstance(entry, item):
            raise InvalidValueError(f"{what} entries must be {item.__name__}, got {entry!r}")


def _encode_ascii_list(items: tuple[str, ...], what: str) -> bytes:
    return encode_var_uint(len(items)) + b"".join(encode_ascii(s, what) for s in items)


def _read_ascii_list(r: Reader, what: str) -> tuple[str, ...]:
    count = read_sequence_count(r, f"{what} count", _MIN_STRING)
    return tuple(r.read_ascii(what) for _ in range(count))


# ---- routes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteProp:
    """An optional route property. As in the reference, a non-optional property is always
    transitive, and only an optional transitive one may be partial; with `is_utf8` the value
    is UTF-8 text."""

    id: int
    value: bytes
    is_optional: bool = False
    is_transitive: bool = True
    is_partial: bool = False
    is_utf8: bool = False

    def __post_init__(self) -> None:
        _check_uint(self.id, UINT16_MAX, "route property id")
        if not isinstance(self.value, bytes):
            raise InvalidValueError(f"route property value must be bytes, got {self.value!r}")
        if not self.is_optional and not self.is_transitive:
            raise InvalidValueError("a non-optional route property is always transitive")
        if self.is_partial and not (self.is_optional and self.is_transitive):
            raise InvalidValueError("only an optional transitive route property can be partial")
        if self.is_utf8:
            try:
                self.value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidValueError("route property flagged UTF-8 is not UTF-8") from exc

    @classmethod
    def text(cls, id: int, text: str, *, is_optional: bool = False) -> Self:
        return cls(id, text.encode("utf-8"), is_optional=is_optional, is_utf8=True)

    @property
    def meta(self) -> PropFlag:
        flags = PropFlag(0)
        if self.is_optional:
            flags |= PropFlag.OPTIONAL
        if self.is_transitive:
            flags |= PropFlag.TRANSITIVE
        if self.is_partial:
            flags |= PropFlag.PARTIAL
        if self.is_utf8:
            flags |= PropFlag.UTF8
        return flags

    def encode(self) -> bytes:
        return bytes((self.meta,)) + encode_uint(self.id, 2) + encode_var_octets(self.value)

    @classmethod
    def read(cls, r: Reader) -> Self:
        start = r.pos
        meta = r.read_uint8("route property meta")
        if meta & ~_KNOWN_FLAGS & 0xFF:
            raise DecodeError(f"route property meta {meta:#04x} sets reserved bits", start)
        prop_id = r.read_uint16("route property id")
        value = r.read_var_octets("route property value")
        try:
            return cls(
                prop_id,
                value,
                is_optional=bool(meta & PropFlag.OPTIONAL),
                is_transitive=bool(meta & PropFlag.TRANSITIVE),
                is_partial=bool(meta & PropFlag.PARTIAL),
                is_utf8=bool(meta & PropFlag.UTF8),
            )
        except InvalidValueError as exc:
            raise DecodeError(exc.message, start) from exc


@dataclass(frozen=True, slots=True)
class Route:
    """A prefix reachable through the speaker; `path` lists hops nearest first."""

    prefix: str
    path: tuple[str, ...]
    auth: bytes
    props: tuple[RouteProp, ...] = ()

    def __post_init__(self) -> None:
        _check_ascii(self.prefix, "route prefix")
        _check_tuple(self.path, "route path", str)
        for hop in self.path:
            _check_ascii(hop, "route path entry")
        if not isinstance(self.auth, bytes) or len(self.auth) != AUTH_LENGTH:
            raise InvalidValueError(f"route auth must be {AUTH_LENGTH} bytes, got {self.auth!r}")
        _check_tuple(self.props, "route props", RouteProp)

    def encode(self) -> bytes:
        return b"".join(
            (
                encode_ascii(self.prefix, "route prefix"),
                _encode_ascii_list(self.path, "route path entry"),
                self.auth,
                encode_var_uint(len(self.props)),
                *(p.encode() for p in self.props),
            )
        )

    @classmethod
    def read(cls, r: Reader) -> Self:
        prefix = r.read_ascii("route prefix")
        path = _read_ascii_list(r, "route path entry")
        auth = r.read_bytes(AUTH_LENGTH, "route auth")
        count = read_sequence_count(r, "route props count", _MIN_PROP)
        props = tuple(RouteProp.read(r) for _ in range(count))
        return cls(prefix, path, auth, props)


# ---- the two requests ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteControlRequest:
    """Data of `peer.route.control`: put the speaker in SYNC (from an epoch) or IDLE."""

    DESTINATION: ClassVar[str] = PEER_ROUTE_CONTROL
    mode: Mode
    last_known_routing_table_id: UUID = NO_ROUTING_TABLE
    last_known_epoch: int = 0
    features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError as exc:
            raise InvalidValueError(f"unknown route control mode {self.mode!r}") from exc
        _check_uuid(self.last_known_routing_table_id, "lastKnownRoutingTableId")
        _check_uint(self.last_known_epoch, UINT32_MAX, "lastKnownEpoch")
        _check_tuple(self.features, "features", str)

    def encode(self) -> bytes:
        """The Prepare's data."""
        return b"".join(
            (
                bytes((self.mode,)),
                self.last_known_routing_table_id.bytes,
                encode_uint(self.last_known_epoch, 4),
                encode_var_uint(len(self.features)),
                *(encode_utf8(f) for f in self.features),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse the Prepare's data; bytes after the known fields are ignored."""
        r = Reader(bytes(data))
        mode = r.read_uint8("mode")
        if mode not in _MODES:
            raise DecodeError(f"unknown route control mode {mode}", 0)
        table_id = UUID(bytes=r.read_bytes(_UUID_LENGTH, "lastKnownRoutingTableId"))
        epoch = r.read_uint32("lastKnownEpoch")
        count = read_sequence_count(r, "features count", _MIN_STRING)
        features = tuple(r.read_utf8("feature") for _ in range(count))
        return cls(Mode(mode), table_id, epoch, features)

    def to_prepare(self, expires_at: datetime) -> Prepare:
        return _prepare(self.DESTINATION, expires_at, self.encode())

    @classmethod
    def from_prepare(cls, prepare: Prepare) -> Self:
        """Checks destination and condition, then parses the data."""
        check_peer_protocol_prepare(prepare, cls.DESTINATION)
        return cls.decode(prepare.data)

    def encode_prepare(self, expires_at: datetime) -> bytes:
        return self.to_prepare(expires_at).encode()

    @classmethod
    def decode_prepare(cls, raw: bytes) -> Self:
        return cls.from_prepare(Prepare.decode(raw))


@dataclass(frozen=True, slots=True)
class RouteUpdateRequest:
    """Data of `peer.route.update`: the speaker's log entries `[from, to)` as new and
    withdrawn routes, or an empty heartbeat."""

    DESTINATION: ClassVar[str] = PEER_ROUTE_UPDATE
    routing_table_id: UUID
    current_epoch_index: int
    from_epoch_index: int
    to_epoch_index: int
    hold_down_time: int
    speaker: str
    new_routes: tuple[Route, ...] = ()
    withdrawn_routes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_uuid(self.routing_table_id, "routingTableId")
        _check_uint(self.current_epoch_index, UINT32_MAX, "currentEpochIndex")
        _check_uint(self.from_epoch_index, UINT32_MAX, "fromEpochIndex")
        _check_uint(self.to_epoch_index, UINT32_MAX, "toEpochIndex")
        _check_uint(self.hold_down_time, UINT32_MAX, "holdDownTime")
        _check_ascii(self.speaker, "speaker")
        _check_tuple(self.new_routes, "newRoutes", Route)
        _check_tuple(self.withdrawn_routes, "withdrawnRoutes", str)
        for prefix in self.withdrawn_routes:
            _check_ascii(prefix, "withdrawn prefix")

    def encode(self) -> bytes:
        """The Prepare's data."""
        return b"".join(
            (
                self.routing_table_id.bytes,
                encode_uint(self.current_epoch_index, 4),
                encode_uint(self.from_epoch_index, 4),
                encode_uint(self.to_epoch_index, 4),
                encode_uint(self.hold_down_time, 4),
                encode_ascii(self.speaker, "speaker"),
                encode_var_uint(len(self.new_routes)),
                *(route.encode() for route in self.new_routes),
                _encode_ascii_list(self.withdrawn_routes, "withdrawn prefix"),
            )
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse the Prepare's data; bytes after the known fields are ignored."""
        r = Reader(bytes(data))
        table_id = UUID(bytes=r.read_bytes(_UUID_LENGTH, "routingTableId"))
        current = r.read_uint32("currentEpochIndex")
        first = r.read_uint32("fromEpochIndex")
        last = r.read_uint32("toEpochIndex")
        hold_down = r.read_uint32("holdDownTime")
        speaker = r.read_ascii("speaker")
        count = read_sequence_count(r, "newRoutes count", _MIN_ROUTE)
        routes = tuple(Route.read(r) for _ in range(count))
        withdrawn = _read_ascii_list(r, "withdrawn prefix")
        return cls(table_id, current, first, last, hold_down, speaker, routes, withdrawn)

    def to_prepare(self, expires_at: datetime) -> Prepare:
        return _prepare(self.DESTINATION, expires_at, self.encode())

    @classmethod
    def from_prepare(cls, prepare: Prepare) -> Self:
        """Checks destination and condition, then parses the data."""
        check_peer_protocol_prepare(prepare, cls.DESTINATION)
        return cls.decode(prepare.data)

    def encode_prepare(self, expires_at: datetime) -> bytes:
        return self.to_prepare(expires_at).encode()

    @classmethod
    def decode_prepare(cls, raw: bytes) -> Self:
        return cls.from_prepare(Prepare.decode(raw))


CcpRequest: TypeAlias = RouteControlRequest | RouteUpdateRequest


def _prepare(destination: str, expires_at: datetime, data: bytes) -> Prepare:
    expiry = aware_utc_millis(expires_at, "expiresAt")
    return Prepare(0, expiry, PEER_PROTOCOL_CONDITION, destination, data)


def ccp_request_from_prepare(prepare: Prepare) -> CcpRequest:
    """Route control or update, by the Prepare's destination."""
    if prepare.destination == PEER_ROUTE_CONTROL:
        return RouteControlRequest.from_prepare(prepare)
    if prepare.destination == PEER_ROUTE_UPDATE:
        return RouteUpdateRequest.from_prepare(prepare)
    raise DecodeError(f"not a CCP destination: {prepare.destination}", 0)


def ccp_response() -> Fulfill:
    """The success reply to either request: the zero fulfillment, empty data."""
    return Fulfill(PEER_PROTOCOL_FULFILLMENT, b"")
