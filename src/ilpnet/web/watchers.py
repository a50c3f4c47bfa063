"""Keeps `LiveState` current: watches each ledger and account, and polls each connector.

Per ledger: health and books (re-read when a watched account's notification says
something happened, and every `ledger_interval` seconds for activity nobody watches).
Per account the dashboard holds credentials for: the ledger's notification WebSocket
(`LedgerClient.subscribe`); each transfer shows up as a payment. Per connector: its
admin API every `connector_interval` seconds (it has no push). Per test receiver with a
health URL: its `/health` at the same interval; each rise of its received total shows up
as a payment (`ReceiverTally`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog

from ilpnet.app.escrow_receiver import EscrowReceiver
from ilpnet.clock import Clock, SystemClock
from ilpnet.ledger.errors import LedgerError
from ilpnet.ledger.models import EscrowState, Event, EventType
from ilpnet.web.connector_admin import AdminUnavailable, ConnectorAdminClient
from ilpnet.web.ledger_pool import LedgerPool
from ilpnet.web.live_state import LiveState
from ilpnet.web.network_view import NetworkView
from ilpnet.web.payer import Payment, account_node, ledger_node
from ilpnet.web.receiver_tally import HealthError, ReceiverTally, ReceiverTotals
from ilpnet.web.wallet import Credentials, Wallet

log = structlog.get_logger(__name__)

NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
RECEIVER_TIMEOUT_S = 2.0
"""Bound on one `/health` read of a test receiver (one that hangs is read again later)."""


@dataclass(frozen=True, slots=True)
class WatchIntervals:
    ledger: float = 2.0
    connector: float = 1.0


def payment_from_event(ledger: str, event: Event) -> Payment | None:
    """A notification that money moved, as a payment seen on the ledger (not made here):
    a transfer, or a conditional (escrow) payment that was fulfilled or rolled back."""
    transfer = event.transfer
    if transfer is not None:
        return Payment(
            id=transfer.id,
            kind="on-ledger",
            source_ledger=ledger,
            source_account=transfer.sender,
            destination_ledger=ledger,
            destination=transfer.receiver,
            amount=transfer.amount,
            delivered=transfer.amount,
            state="fulfilled",
            started_at=transfer.created_at,
            finished_at=transfer.created_at,
            path=_on_ledger_path(ledger, transfer.sender, transfer.receiver),
            fee=transfer.fee,
            origin="ledger",
        )
    escrow = event.escrow
    if escrow is None or event.type not in (EventType.ESCROW_FULFILLED, EventType.ESCROW_EXPIRED):
        return None
    fulfilled = escrow.state is EscrowState.FULFILLED
    return Payment(
        id=escrow.id,
        kind="escrow",
        source_ledger=ledger,
        source_account=escrow.sender,
        destination_ledger=ledger,
        destination=escrow.receiver,
        amount=escrow.amount,
        delivered=escrow.amount if fulfilled else 0,
        state="fulfilled" if fulfilled else "rejected",
        started_at=escrow.created_at,
        finished_at=escrow.resolved_at or event.at,
        path=_on_ledger_path(ledger, escrow.sender, escrow.receiver),
        fee=escrow.fee,
        error="" if fulfilled else "escrow expired: rolled back to the sender",
        origin="ledger",
    )


def _on_ledger_path(ledger: str, sender: str, receiver: str) -> tuple[str, ...]:
    return (account_node(ledger, sender), ledger_node(ledger), account_node(ledger, receiver))


class NetworkWatcher:
    """Owns every watching task of one network description; `stop()` ends them all."""

    def __init__(
        self,
        network: NetworkView,
        state: LiveState,
        wallet: Wallet,
        pool: LedgerPool,
        intervals: WatchIntervals,
        clock: Clock | None = None,
    ) -> None:
        self.network = network
        self.clock = clock or SystemClock()
        self.state = state
        self.wallet = wallet
        self.pool = pool
        self.intervals = intervals
        self._tasks: set[asyncio.Task[None]] = set()
        self._dirty = {key: asyncio.Event() for key in network.ledgers}
        self._watched: set[tuple[str, str]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        for key in self.network.ledgers:
            self._spawn(self._watch_ledger(key), f"ledger:{key}")
        for creds in self.wallet.accounts():
            self.watch_account(creds)
        for receiver in self.network.receivers:
            if receiver.account and receiver.secret:
                self.watch_account(Credentials(receiver.ledger, receiver.account, receiver.secret))
        for name, view in self.network.connectors.items():
            if view.admin_url:
                self._spawn(self._watch_connector(name), f"connector:{name}")
        for receiver in self.network.receivers:
            if receiver.health_url:
                tally = ReceiverTally(receiver, self.network.ledgers.get(receiver.ledger))
                self._spawn(self._watch_receiver(tally), f"receiver-health:{receiver.pointer}")

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def watch_account(self, creds: Credentials) -> None:
        """Follow this account's notifications (once per account)."""
        key = (creds.ledger, creds.account)
        if creds.ledger not in self.network.ledgers or key in self._watched:
            return
        self._watched.add(key)
        self._spawn(self._follow_account(creds), f"account:{creds.ledger}/{creds.account}")

    def poke(self, ledger: str) -> None:
        """Something happened on `ledger`: re-read its books and balances now."""
        if ledger in self._dirty:
            self._dirty[ledger].set()

    async def refresh_ledger(self, key: str) -> None:
        view = self.network.ledgers[key]
        client = self.pool.open_client(view.url)
        try:
            books = await client.books()
        except (LedgerError, *NETWORK_ERRORS) as exc:
            self.state.update_ledger(key, healthy=False, error=str(exc) or type(exc).__name__)
            return
        self.state.update_ledger(key, healthy=True, error="", books=books.to_json())
        for ledger, account in sorted(self._watched):
            if ledger != key:
                continue
            creds = self.wallet.credentials(ledger, account)
            receiver = next(
                (r for r in self.network.receivers if (r.ledger, r.account) == (ledger, account)),
                None,
            )
            if receiver is not None and receiver.secret:
                creds = Credentials(ledger, account, receiver.secret)
            with contextlib.suppress(LedgerError, *NETWORK_ERRORS):
                account_now = await self.pool.client(view.url, creds).get_account()
                self.state.set_balance(key, account, account_now.balance)

    async def _watch_ledger(self, key: str) -> None:
        dirty = self._dirty[key]
        while True:
            dirty.clear()
            await self.refresh_ledger(key)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel that
            # stops this watcher when it races the timeout, and the stop then hangs.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.intervals.ledger):
                    await dirty.wait()

    @property
    def has_escrow_connector(self) -> bool:
        return any(c.public_url for c in self.network.connectors.values())

    async def _receive_escrows(self, creds: Credentials) -> None:
        """Fulfil the escrows paid to this account (as its receiver app would)."""
        client = self.pool.client(self.network.ledgers[creds.ledger].url, creds)
        receiver = EscrowReceiver(client, secret=creds.secret)
        try:
            await receiver.start()
            await asyncio.Event().wait()  # until cancelled with the watcher
        except (LedgerError, *NETWORK_ERRORS) as exc:
            log.warning("dashboard.receiver_failed", account=creds.account, error=str(exc))
        finally:
            await receiver.close()

    async def _follow_account(self, creds: Credentials) -> None:
        view = self.network.ledgers[creds.ledger]
        client = self.pool.client(view.url, creds)
        subscription = client.subscribe(after=0, retry_delay=1.0)
        if self.has_escrow_connector and (creds.ledger, creds.account) in {
            (c.ledger, c.account) for c in self.wallet.accounts()
        }:
            self._spawn(self._receive_escrows(creds), f"receiver:{creds.ledger}/{creds.account}")
        try:
            async for event in subscription:
                payment = payment_from_event(creds.ledger, event)
                if payment is not None:
                    self.state.add_payment(payment)
                self.poke(creds.ledger)
        except LedgerError as exc:
            log.warning("dashboard.account_unwatched", account=creds.account, error=str(exc))
        finally:
            await subscription.close()

    async def _watch_connector(self, name: str) -> None:
        admin = ConnectorAdminClient(self.network.connectors[name], self.pool.session)
        while True:
            try:
                facts = await admin.read()
            except AdminUnavailable as exc:
                facts = {"reachable": False, "error": str(exc)}
            self.state.update_connector(name, **facts)
            await asyncio.sleep(self.intervals.connector)

    async def read_receiver(self, tally: ReceiverTally) -> None:
        """Read one receiver's `/health`; a rise of its total becomes a payment. A receiver
        that is down or answers nonsense is skipped this round (and logged)."""
        url = tally.receiver.health_url
        try:
            async with self.pool.session.get(
                url, timeout=aiohttp.ClientTimeout(total=RECEIVER_TIMEOUT_S)
            ) as response:
                if response.status != 200:
                    raise HealthError(f"HTTP {response.status}")
                totals = ReceiverTotals.from_json(await response.json(content_type=None))
        except (HealthError, ValueError, *NETWORK_ERRORS) as exc:
            error = str(exc) or type(exc).__name__
            self.state.update_receiver(tally.receiver.pointer, reachable=False, error=error)
            return
        payment = tally.observe(totals, self.clock.now())
        if payment is not None:
            self.state.add_payment(payment)
        self.state.update_receiver(
            tally.receiver.pointer,
            reachable=True,
            error="",
            received=str(totals.received),
            asset={"code": totals.asset_code, "scale": totals.asset_scale},
        )

    async def _watch_receiver(self, tally: ReceiverTally) -> None:
        while True:
            await self.read_receiver(tally)
            await asyncio.sleep(self.intervals.connector)
