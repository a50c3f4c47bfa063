"""ILDCP (spec 05): a child asks its parent `peer.config` for its ILP address and asset."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Self

from ilpnet.wire.address import validate_address
from ilpnet.wire.errors import DecodeError, ErrorCode, InvalidValueError
from ilpnet.wire.oer import (
    UINT8_MAX,
    Reader,
    encode_ascii,
    encode_utf8,
    truncate_to_millis,
)
from ilpnet.wire.packet import Fulfill, Prepare, Reject

PEER_CONFIG: Final = "peer.config"
"""Destination of the ILDCP request."""

PEER_PROTOCOL_FULFILLMENT: Final = bytes(32)
"""The fulfillment of every peer-protocol exchange (ILDCP, CCP): 32 zero bytes."""

PEER_PROTOCOL_CONDITION: Final = hashlib.sha256(PEER_PROTOCOL_FULFILLMENT).digest()
"""SHA-256 of the zero fulfillment, `66687aad…5f2925`."""

DEFAULT_TIMEOUT: Final = timedelta(seconds=60)
"""How far ahead the reference sets the request's expiry."""


def aware_utc_millis(value: datetime, what: str) -> datetime:
    """`value` as the wire carries it (UTC, whole ms); it must be timezone-aware."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    try:
        return truncate_to_millis(value)
    except OverflowError as exc:
        raise InvalidValueError(f"{what} is out of range in UTC: {value!r}") from exc


def check_peer_protocol_prepare(prepare: Prepare, destination: str) -> None:
    """A peer-protocol Prepare must go to `destination` under the zero-fulfillment condition
    (`DecodeError`, F01, otherwise)."""
    if prepare.destination != destination:
        raise DecodeError(f"expected destination {destination}, got {prepare.destination}", 0)
    if prepare.execution_condition != PEER_PROTOCOL_CONDITION:
        raise DecodeError(
            f"{destination} needs the peer-protocol condition, "
            f"got {prepare.execution_condition.hex()}",
            0,
        )


@dataclass(frozen=True, slots=True)
class IldcpRequest:
    """The child's request: a zero-amount Prepare to `peer.config` with empty data."""

    expires_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", aware_utc_millis(self.expires_at, "expiresAt"))

    @classmethod
    def expiring(cls, now: datetime, timeout: timedelta = DEFAULT_TIMEOUT) -> Self:
        return cls(now + timeout)

    def to_prepare(self) -> Prepare:
        return Prepare(0, self.expires_at, PEER_PROTOCOL_CONDITION, PEER_CONFIG, b"")

    @classmethod
    def from_prepare(cls, prepare: Prepare) -> Self:
        """Checks destination and condition; the amount (reserved) and data are ignored."""
        check_peer_protocol_prepare(prepare, PEER_CONFIG)
        return cls(prepare.expires_at)

    def encode_prepare(self) -> bytes:
        return self.to_prepare().encode()

    @classmethod
    def decode_prepare(cls, raw: bytes) -> Self:
        return cls.from_prepare(Prepare.decode(raw))


@dataclass(frozen=True, slots=True)
class IldcpResponse:
    """The parent's answer, carried as the data of the zero Fulfill."""

    client_address: str
    asset_scale: int
    asset_code: str

    def __post_init__(self) -> None:
        validate_address(self.client_address)
        scale = self.asset_scale
        if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= UINT8_MAX:
            raise InvalidValueError(f"asset scale must be in 0..255, got {scale!r}")
        if not isinstance(self.asset_code, str):
            raise InvalidValueError(f"asset code must be a string, got {self.asset_code!r}")

    def encode(self) -> bytes:
        """The Fulfill's data: address, scale, code."""
        return (
            encode_ascii(self.client_address, "clientAddress")
            + bytes((self.asset_scale,))
            + encode_utf8(self.asset_code)
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse the Fulfill's data; bytes after the asset code are ignored (future fields)."""
        r = Reader(bytes(data))
        address = r.read_ascii("clientAddress")
        scale = r.read_uint8("assetScale")
        code = r.read_utf8("assetCode")
        try:
            return cls(address, scale, code)
        except InvalidValueError as exc:
            raise DecodeError(exc.message, 0) from exc

    def to_fulfill(self) -> Fulfill:
        return Fulfill(PEER_PROTOCOL_FULFILLMENT, self.encode())

    @classmethod
    def from_fulfill(cls, fulfill: Fulfill) -> Self:
        """Checks the fulfillment is the zero one, then parses the data."""
        if fulfill.fulfillment != PEER_PROTOCOL_FULFILLMENT:
            raise DecodeError("ILDCP response must carry the zero fulfillment", 1)
        return cls.decode(fulfill.data)

    def encode_fulfill(self) -> bytes:
        return self.to_fulfill().encode()

    @classmethod
    def decode_fulfill(cls, raw: bytes) -> Self:
        return cls.from_fulfill(Fulfill.decode(raw))


def ildcp_reject(
    triggered_by: str, message: str, code: ErrorCode = ErrorCode.F00_BAD_REQUEST
) -> Reject:
    """The parent's refusal (the reference uses F00), with empty data."""
    return Reject(code.value, triggered_by, message, b"")
