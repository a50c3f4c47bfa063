"""Payments from the send form: the `Payer` protocol and the on-ledger payer.

Until the payment app is plugged in, `OnLedgerPayer` pays between two accounts of one
ledger with a ledger transfer. A cross-ledger payer implements the same protocol (and
can hand same-ledger requests to an `OnLedgerPayer`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import aiohttp

from ilpnet.clock import Clock
from ilpnet.ledger.errors import LedgerError
from ilpnet.ledger.models import format_time
from ilpnet.web.ledger_pool import LedgerPool
from ilpnet.web.network_view import LedgerView
from ilpnet.web.wallet import Credentials


class PaymentError(ValueError):
    """A payment request that cannot be tried at all (the message says why)."""


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """Pay `amount` (source ledger units) from `source` to `destination`.

    `destination` is an account name on `destination_ledger`, or a payment pointer
    (starting with `$`), which only a cross-ledger payer can reach.
    """

    source: Credentials
    destination_ledger: str
    destination: str
    amount: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def to_pointer(self) -> bool:
        return self.destination.startswith("$")


@dataclass(frozen=True, slots=True)
class Payment:
    """A payment as the dashboard lists it. `path` names graph nodes in order."""

    id: str
    kind: str  # "on-ledger" or "ilp"
    source_ledger: str
    source_account: str
    destination_ledger: str
    destination: str
    amount: int
    delivered: int
    state: str  # "fulfilled" or "rejected"
    started_at: datetime
    finished_at: datetime
    path: tuple[str, ...] = ()
    fee: int = 0
    error: str = ""
    origin: str = "dashboard"  # or "ledger" (a ledger notification), "receiver" (its /health)

    @property
    def millis(self) -> int:
        return max(0, round((self.finished_at - self.started_at).total_seconds() * 1000))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "source_ledger": self.source_ledger,
            "source_account": self.source_account,
            "destination_ledger": self.destination_ledger,
            "destination": self.destination,
            "amount": str(self.amount),
            "delivered": str(self.delivered),
            "fee": str(self.fee),
            "state": self.state,
            "error": self.error,
            "path": list(self.path),
            "started_at": format_time(self.started_at),
            "finished_at": format_time(self.finished_at),
            "millis": self.millis,
            "origin": self.origin,
        }


def account_node(ledger: str, account: str) -> str:
    return f"account:{ledger}/{account}"


def ledger_node(ledger: str) -> str:
    return f"ledger:{ledger}"


class Payer(Protocol):
    """Makes one payment and says how it went (a refused payment is `state="rejected"`).

    Raises `PaymentError` only when the request cannot be tried at all.
    """

    async def pay(self, request: PaymentRequest) -> Payment: ...


class OnLedgerPayer:
    """Pays between two accounts of the same ledger with a ledger transfer."""

    def __init__(self, ledgers: Mapping[str, LedgerView], pool: LedgerPool, clock: Clock) -> None:
        self.ledgers = ledgers
        self.pool = pool
        self.clock = clock

    async def pay(self, request: PaymentRequest) -> Payment:
        src = request.source
        ledger = self.ledgers.get(src.ledger)
        if ledger is None:
            raise PaymentError(f"unknown ledger {src.ledger!r}")
        if request.to_pointer:
            raise PaymentError(
                "paying a payment pointer needs the cross-ledger payment app, "
                "which this dashboard was started without"
            )
        if request.destination_ledger != src.ledger:
            raise PaymentError(
                f"{src.ledger} → {request.destination_ledger}: cross-ledger payments need the "
                "payment app, which this dashboard was started without; pick the same ledger"
            )
        if request.destination == src.account:
            raise PaymentError("source and destination are the same account")
        started = self.clock.now()
        path = (
            account_node(src.ledger, src.account),
            ledger_node(src.ledger),
            account_node(src.ledger, request.destination),
        )
        client = self.pool.client(ledger.url, src)
        delivered, fee, state, error = 0, 0, "fulfilled", ""
        try:
            transfer = await client.transfer(request.destination, request.amount, request.id)
            delivered, fee = transfer.amount, transfer.fee
        except LedgerError as err:
            state, error = "rejected", f"{err.error}: {err.message}"
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            state, error = "rejected", f"ledger {src.ledger} not reachable: {err}"
        return Payment(
            id=request.id,
            kind="on-ledger",
            source_ledger=src.ledger,
            source_account=src.account,
            destination_ledger=src.ledger,
            destination=request.destination,
            amount=request.amount,
            delivered=delivered,
            state=state,
            started_at=started,
            finished_at=self.clock.now(),
            path=path,
            fee=fee,
            error=error,
        )
