"""Notification fan-out: committed events go to each subscribed account's live queues.

The durable log is the `events` table (see `store.py`); this hub only pushes what was
just committed. A subscriber registers first, then reads the backlog from the log, then
drains its queue skipping sequence numbers it already sent, so nothing is missed or
repeated. A subscriber that falls too far behind is dropped; its client resumes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

from ilpnet.ledger.models import Event

MAX_QUEUED = 10_000


class Subscription:
    """One live listener on one account."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.overflowed = False

    def push(self, event: Event) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= MAX_QUEUED:
            self.overflowed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        self.queue.put_nowait(None)


class EventHub:
    """Routes committed events to the subscriptions of their account."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, account: str) -> Subscription:
        sub = Subscription(account)
        self._subs[account].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.account)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.account]

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for sub in self._subs.get(event.account, ()):
                sub.push(event)

    def close_all(self) -> None:
        for subs in self._subs.values():
            for sub in subs:
                sub.close()
