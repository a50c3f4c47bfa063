"""One worker per ledger: follows the connector account's notifications and hands each to
that ledger's escrow link, in order, exactly once.

The cursor (the last sequence number handled) lives in the `EscrowBook` and moves only
after the link has durably applied the event, so after a crash the worker resumes from
the first event not yet applied; re-applying one is harmless (the link keys every record
and every ledger write by escrow id). Dropped sockets are resumed by the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ilpnet.ledger.client import EventSubscription
from ilpnet.ledger.errors import LedgerError
from ilpnet.links.escrow_book import EscrowBook
from ilpnet.links.ledger_escrow import LedgerEscrowLink

log = structlog.get_logger(__name__)


class LedgerWorker:
    """Follows one ledger for one escrow link; `start()` runs it as a task."""

    def __init__(
        self, link: LedgerEscrowLink, book: EscrowBook, *, retry_delay: float = 0.2
    ) -> None:
        self.link = link
        self.book = book
        self.retry_delay = retry_delay
        self.handled = 0
        """Events applied by this process (not counting those skipped as already seen)."""
        self._task: asyncio.Task[None] | None = None
        self._subscription: EventSubscription | None = None
        self._progress = asyncio.Condition()

    @property
    def key(self) -> str:
        return self.link.account_id

    @property
    def cursor(self) -> int:
        return self.book.cursor(self.key)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"ledger-worker-{self.key}")

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def connects(self) -> int:
        """How often the current subscription (re)connected to the ledger."""
        return self._subscription.connects if self._subscription is not None else 0

    async def drop_connection(self) -> None:
        """Cut the notification socket (it resumes from the cursor): for fault tests."""
        if self._subscription is not None:
            await self._subscription.drop_connection()

    async def run(self) -> None:
        while True:
            after = self.cursor
            sub = self.link.client.subscribe(after=after, retry_delay=self.retry_delay)
            self._subscription = sub
            log.info("ledger_worker.following", link=self.key, after=after)
            try:
                async for event in sub:
                    await self.link.on_event(event)
                    self.book.set_cursor(self.key, event.seq)
                    self.handled += 1
                    async with self._progress:
                        self._progress.notify_all()
            except LedgerError as err:
                log.error("ledger_worker.refused", link=self.key, error=err.message)
            except asyncio.CancelledError:
                raise
            except Exception:
                # not applied, so the cursor stays: the event is retried after a pause
                log.exception("ledger_worker.event_failed", link=self.key)
            finally:
                await sub.close()
            await asyncio.sleep(self.retry_delay)

    async def wait_cursor(self, seq: int) -> None:
        """Return once events up to `seq` are applied (callers bound it with a timeout)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.cursor >= seq)
