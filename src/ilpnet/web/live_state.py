"""What the page shows, kept current on the server, and the deltas pushed to each page.

Every change goes through `LiveState`, which updates its JSON-able picture of the
network and queues a delta for every subscriber (one per open page). A page first gets
the whole picture (`snapshot`), then deltas: `ledger`, `connector`, `receiver`, `payment`,
and `payments` (the whole list, when entries were folded together).
"""

from __future__ import annotations

import asyncio
from collections import deque
from datetime import timedelta
from typing import Any

from ilpnet.web.network_view import NetworkView
from ilpnet.web.payer import Payment

MAX_PAYMENTS = 50
MAX_QUEUED = 1000

Json = dict[str, Any]


LEG_WINDOW = timedelta(minutes=2)


def is_leg_of(leg: Payment, payment: Payment) -> bool:
    """Whether `leg`, an escrow seen on a ledger, is the first or last hop of `payment`,
    an ILP payment the dashboard made (same accounts and amount, close in time)."""
    if leg.origin != "ledger" or leg.kind != "escrow" or payment.kind != "ilp":
        return False
    if abs(leg.finished_at - payment.finished_at) > LEG_WINDOW:
        return False
    first = (leg.source_ledger, leg.source_account, leg.amount) == (
        payment.source_ledger,
        payment.source_account,
        payment.amount,
    )
    last = (leg.destination_ledger, leg.destination, leg.amount) == (
        payment.destination_ledger,
        payment.destination,
        payment.delivered,
    )
    return first or last


class Subscriber:
    """One page's queue of deltas; `None` in the queue means 'you fell behind, reconnect'."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Json | None] = asyncio.Queue()
        self.dropped = False

    def push(self, delta: Json) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= MAX_QUEUED:
            self.dropped = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(delta)


class LiveState:
    def __init__(self, network: NetworkView) -> None:
        self._subscribers: set[Subscriber] = set()
        self._payments: deque[Payment] = deque(maxlen=MAX_PAYMENTS)
        self._counts = {"fulfilled": 0, "rejected": 0}
        self.version = 0
        self.reset(network)

    # ---- the picture --------------------------------------------------------------------

    def reset(self, network: NetworkView) -> None:
        """Start over with a (new) network description; pages get a fresh snapshot."""
        self.network = network
        self._ledgers: dict[str, Json] = {
            key: {**view.to_json(), "healthy": None, "error": "", "books": None, "accounts": {}}
            for key, view in network.ledgers.items()
        }
        self._connectors: dict[str, Json] = {
            name: {
                **view.to_json(),
                "reachable": None,
                "error": "",
                "packets": {"fulfilled": 0, "rejected": 0},
                "accounts": [],
                "routes": [],
                "rates": [],
            }
            for name, view in network.connectors.items()
        }
        self._receivers: dict[str, Json] = {
            view.pointer: {**view.to_json(), "reachable": None, "error": "", "received": None}
            for view in network.receivers
        }
        self._broadcast({"type": "snapshot", "state": self.snapshot()})

    def snapshot(self) -> Json:
        return {
            "name": self.network.name,
            "version": self.version,
            "ledgers": self._ledgers,
            "connectors": self._connectors,
            "receivers": list(self._receivers.values()),
            "payments": [p.to_json() for p in self._payments],
            "counts": dict(self._counts),
        }

    def ledger(self, key: str) -> Json | None:
        return self._ledgers.get(key)

    def update_ledger(self, key: str, **changes: Any) -> None:
        """Merge `changes` into ledger `key`; a delta goes out only when something changed."""
        current = self._ledgers.get(key)
        if current is None:
            return
        merged = {**current, **changes}
        if merged == current:
            return
        self._ledgers[key] = merged
        self._broadcast({"type": "ledger", "key": key, "ledger": merged})

    def set_balance(self, key: str, account: str, balance: int) -> None:
        current = self._ledgers.get(key)
        if current is None:
            return
        if current["accounts"].get(account) == str(balance):
            return
        self.update_ledger(key, accounts={**current["accounts"], account: str(balance)})

    def update_connector(self, name: str, **changes: Any) -> None:
        current = self._connectors.get(name)
        if current is None:
            return
        merged = {**current, **changes}
        if merged == current:
            return
        self._connectors[name] = merged
        self._broadcast({"type": "connector", "name": name, "connector": merged})

    def update_receiver(self, pointer: str, **changes: Any) -> None:
        """Merge `changes` (reachable, error, received, asset) into the test receiver with
        this pointer; a delta goes out only when something changed."""
        current = self._receivers.get(pointer)
        if current is None:
            return
        merged = {**current, **changes}
        if merged == current:
            return
        self._receivers[pointer] = merged
        self._broadcast({"type": "receiver", "pointer": pointer, "receiver": merged})

    def has_payment(self, ledger: str, payment_id: str) -> bool:
        return any(p.id == payment_id and p.source_ledger == ledger for p in self._payments)

    def add_payment(self, payment: Payment) -> None:
        """Record a payment (newest first).

        One seen again replaces the earlier record, unless the earlier one came from the
        dashboard itself (it knows more). An escrow seen on a ledger that is one leg of an
        ILP payment the dashboard made is folded into that payment, not listed twice."""
        if any(is_leg_of(payment, p) for p in self._payments):
            return
        legs = [p for p in self._payments if is_leg_of(p, payment)]
        for leg in legs:
            self._payments.remove(leg)
            self._counts[leg.state] -= 1
        for i, old in enumerate(self._payments):
            if old.id == payment.id and old.source_ledger == payment.source_ledger:
                if old.origin == "dashboard" and payment.origin != "dashboard":
                    return
                self._counts[old.state] -= 1
                self._payments[i] = payment
                break
        else:
            self._payments.appendleft(payment)
        self._counts[payment.state] = self._counts.get(payment.state, 0) + 1
        if legs:
            self._broadcast(
                {
                    "type": "payments",
                    "payments": [p.to_json() for p in self._payments],
                    "counts": dict(self._counts),
                }
            )
        self._broadcast(
            {"type": "payment", "payment": payment.to_json(), "counts": dict(self._counts)}
        )

    # ---- subscribers --------------------------------------------------------------------

    def subscribe(self) -> Subscriber:
        sub = Subscriber()
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def close_subscribers(self) -> None:
        """Tell every page's stream to end (server shutdown)."""
        for sub in list(self._subscribers):
            sub.dropped = True
            sub.queue.put_nowait(None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _broadcast(self, delta: Json) -> None:
        self.version += 1
        delta["version"] = self.version
        for sub in list(self._subscribers):
            sub.push(delta)
