"""Payments to a test receiver, seen from its `GET /health` totals.

A STREAM receiver (`ilpnet receive`) has no ledger account and no push: all the dashboard
can see is the running total it reports. `ReceiverTally` turns successive totals into
payments: the first reading is only the baseline (money received before the dashboard
watched is not a payment it saw), each later increase is one payment of the difference,
and a smaller total means the receiver restarted (a new baseline, no payment).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ilpnet.web.network_view import LedgerView, ReceiverView
from ilpnet.web.payer import Payment, ledger_node


class HealthError(ValueError):
    """A `/health` answer without a usable received total (the message says what)."""


@dataclass(frozen=True, slots=True)
class ReceiverTotals:
    """What a receiver's `/health` says it received since it started."""

    received: int  # smallest units of `asset_code` at `asset_scale`
    packets: int
    asset_code: str
    asset_scale: int

    @classmethod
    def from_json(cls, data: object) -> ReceiverTotals:
        if not isinstance(data, Mapping):
            raise HealthError("health: expected a JSON object")
        received = _digits(data.get("received"), "received")
        packets = data.get("packets", 0)
        if not isinstance(packets, int) or isinstance(packets, bool) or packets < 0:
            raise HealthError("health.packets: expected a count")
        asset = data.get("asset")
        if not isinstance(asset, Mapping):
            raise HealthError("health.asset: expected an object")
        code, scale = asset.get("code"), asset.get("scale")
        if not isinstance(code, str) or not code:
            raise HealthError("health.asset.code: expected a non-empty string")
        if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= 255:
            raise HealthError("health.asset.scale: expected an integer in [0, 255]")
        return cls(received, packets, code, scale)


def _digits(raw: Any, key: str) -> int:
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    raise HealthError(f"health.{key}: expected a string of digits")


def in_ledger_units(amount: int, totals: ReceiverTotals, ledger: LedgerView | None) -> int | None:
    """`amount` (receiver's smallest units) in the ledger's smallest units, which the page
    formats payments with; `None` when that cannot be exact (another asset, finer scale)."""
    if ledger is None:
        return amount
    if totals.asset_code != ledger.asset or totals.asset_scale > ledger.scale:
        return None
    factor: int = 10 ** (ledger.scale - totals.asset_scale)
    return amount * factor


class ReceiverTally:
    """The last total seen from one receiver, and the payment each increase makes."""

    def __init__(self, receiver: ReceiverView, ledger: LedgerView | None) -> None:
        self.receiver = receiver
        self.ledger = ledger
        self.baseline: int | None = None

    def observe(self, totals: ReceiverTotals, now: datetime) -> Payment | None:
        """Take a new reading (made at `now`); the payment it reveals, if any."""
        before, self.baseline = self.baseline, totals.received
        if before is None or totals.received <= before:
            return None  # first reading, nothing new, or the receiver restarted
        increase = totals.received - before
        amount = in_ledger_units(increase, totals, self.ledger)
        if amount is None:
            return None
        receiver = self.receiver
        path = (f"connector:{receiver.connector}",) if receiver.connector else ()
        return Payment(
            id=uuid.uuid4().hex,
            kind="ilp",
            source_ledger=receiver.ledger,
            source_account="",  # STREAM does not tell the receiver who paid
            destination_ledger=receiver.ledger,
            destination=receiver.pointer,
            amount=amount,
            delivered=amount,
            state="fulfilled",
            started_at=now,  # how long it took is not known here
            finished_at=now,
            path=(*path, ledger_node(receiver.ledger)),
            origin="receiver",
        )
