"""What the ledger API returns: frozen dataclasses with their JSON form.

On the wire amounts are decimal strings, bytes are lowercase hex (memo: base64), times are
ISO-8601 UTC with milliseconds.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Self

Json = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(raw: str) -> datetime:
    t = datetime.fromisoformat(raw)
    if t.tzinfo is None:
        raise ValueError(f"time without a timezone: {raw!r}")
    return t.astimezone(UTC)


def to_millis(t: datetime) -> int:
    """Milliseconds since the Unix epoch, rounded down."""
    return (t - EPOCH) // timedelta(milliseconds=1)


def from_millis(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _opt_time(raw: object) -> datetime | None:
    return parse_time(raw) if isinstance(raw, str) else None


def _fmt_opt_time(t: datetime | None) -> str | None:
    return format_time(t) if t is not None else None


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    name: str
    asset_code: str
    asset_scale: int
    fee: int
    close_interval_ms: int
    faucet_max: int

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "asset_code": self.asset_code,
            "asset_scale": self.asset_scale,
            "fee": str(self.fee),
            "close_interval_ms": self.close_interval_ms,
            "faucet_max": str(self.faucet_max),
        }

    @classmethod
    def from_json(cls, j: Json) -> Self:
        return cls(
            name=j["name"],
            asset_code=j["asset_code"],
            asset_scale=int(j["asset_scale"]),
            fee=int(j["fee"]),
            close_interval_ms=int(j["close_interval_ms"]),
            faucet_max=int(j["faucet_max"]),
        )


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    balance: int

    def to_json(self) -> Json:
        return {"name": self.name, "balance": str(self.balance)}

    @classmethod
    def from_json(cls, j: Json) -> Self:
        return cls(name=j["name"], balance=int(j["balance"]))


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    sender: str
    receiver: str
    amount: int
    fee: int
    created_at: datetime

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.receiver,
            "amount": str(self.amount),
            "fee": str(self.fee),
            "created_at": format_time(self.created_at),
        }

    @classmethod
    def from_json(cls, j: Json) -> Self:
        return cls(
            id=j["id"],
            sender=j["from"],
            receiver=j["to"],
            amount=int(j["amount"]),
            fee=int(j["fee"]),
            created_at=parse_time(j["created_at"]),
        )


class EscrowState(StrEnum):
    PENDING = "pending"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Escrow:
    id: str
    sender: str
    receiver: str
    amount: int
    condition: bytes
    expires_at: datetime
    state: EscrowState
    fee: int
    created_at: datetime
    memo: bytes = b""
    preimage: bytes | None = None
    resolved_at: datetime | None = None

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.receiver,
            "amount": str(self.amount),
            "condition": self.condition.hex(),
            "expires_at": format_time(self.expires_at),
            "state": self.state.value,
            "fee": str(self.fee),
            "created_at": format_time(self.created_at),
            "memo": base64.b64encode(self.memo).decode("ascii"),
            "preimage": self.preimage.hex() if self.preimage is not None else None,
            "resolved_at": _fmt_opt_time(self.resolved_at),
        }

    @classmethod
    def from_json(cls, j: Json) -> Self:
        pre = j.get("preimage")
        return cls(
            id=j["id"],
            sender=j["from"],
            receiver=j["to"],
            amount=int(j["amount"]),
            condition=bytes.fromhex(j["condition"]),
            expires_at=parse_time(j["expires_at"]),
            state=EscrowState(j["state"]),
            fee=int(j["fee"]),
            created_at=parse_time(j["created_at"]),
            memo=base64.b64decode(j.get("memo") or ""),
            preimage=bytes.fromhex(pre) if isinstance(pre, str) else None,
            resolved_at=_opt_time(j.get("resolved_at")),
        )


class ChannelState(StrEnum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Channel:
    """A one-way payment channel. `paid` is the cumulative amount redeemed by the receiver."""

    id: str
    sender: str
    receiver: str
    deposit: int
    paid: int
    settle_delay_ms: int
    public_key: bytes
    state: ChannelState
    created_at: datetime
    close_at: datetime | None = None

    @property
    def locked(self) -> int:
        return 0 if self.state is ChannelState.CLOSED else self.deposit - self.paid

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.receiver,
            "deposit": str(self.deposit),
            "paid": str(self.paid),
            "settle_delay_ms": self.settle_delay_ms,
            "public_key": self.public_key.hex(),
            "state": self.state.value,
            "created_at": format_time(self.created_at),
            "close_at": _fmt_opt_time(self.close_at),
        }

    @classmethod
    def from_json(cls, j: Json) -> Self:
        return cls(
            id=j["id"],
            sender=j["from"],
            receiver=j["to"],
            deposit=int(j["deposit"]),
            paid=int(j["paid"]),
            settle_delay_ms=int(j["settle_delay_ms"]),
            public_key=bytes.fromhex(j["public_key"]),
            state=ChannelState(j["state"]),
            created_at=parse_time(j["created_at"]),
            close_at=_opt_time(j.get("close_at")),
        )


@dataclass(frozen=True, slots=True)
class Books:
    """The conservation check: minted == balances + escrowed + channel_locked + fees_burned."""

    minted: int
    balances: int
    escrowed: int
    channel_locked: int
    fees_burned: int

    @property
    def balanced(self) -> bool:
        return self.minted == self.balances + self.escrowed + self.channel_locked + self.fees_burned

    def to_json(self) -> Json:
        return {
            "minted": str(self.minted),
            "balances": str(self.balances),
            "escrowed": str(self.escrowed),
            "channel_locked": str(self.channel_locked),
            "fees_burned": str(self.fees_burned),
            "balanced": self.balanced,
        }

    @classmethod
    def from_json(cls, j: Json) -> Self:
        return cls(
            minted=int(j["minted"]),
            balances=int(j["balances"]),
            escrowed=int(j["escrowed"]),
            channel_locked=int(j["channel_locked"]),
            fees_burned=int(j["fees_burned"]),
        )


class EventType(StrEnum):
    FAUCET = "faucet.minted"
    TRANSFER_SENT = "transfer.sent"
    TRANSFER_RECEIVED = "transfer.received"
    ESCROW_CREATED = "escrow.created"
    ESCROW_FULFILLED = "escrow.fulfilled"
    ESCROW_EXPIRED = "escrow.expired"
    CHANNEL_OPENED = "channel.opened"
    CHANNEL_FUNDED = "channel.funded"
    CHANNEL_CLAIMED = "channel.claimed"
    CHANNEL_CLOSING = "channel.closing"
    CHANNEL_CLOSED = "channel.closed"


@dataclass(frozen=True, slots=True)
class Event:
    """One notification for one account; `seq` counts that account's events from 1."""

    account: str
    seq: int
    type: EventType
    at: datetime
    data: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        return {
            "account": self.account,
            "seq": self.seq,
            "type": self.type.value,
            "at": format_time(self.at),
            "data": self.data,
        }

    @classmethod
    def from_json(cls, j: Json) -> Self:
        return cls(
            account=j["account"],
            seq=int(j["seq"]),
            type=EventType(j["type"]),
            at=parse_time(j["at"]),
            data=dict(j.get("data") or {}),
        )

    @property
    def escrow(self) -> Escrow | None:
        raw = self.data.get("escrow")
        return Escrow.from_json(raw) if isinstance(raw, dict) else None

    @property
    def transfer(self) -> Transfer | None:
        raw = self.data.get("transfer")
        return Transfer.from_json(raw) if isinstance(raw, dict) else None

    @property
    def channel(self) -> Channel | None:
        raw = self.data.get("channel")
        return Channel.from_json(raw) if isinstance(raw, dict) else None
