"""The connector: accounts, links, routing table, rates and store around one pipeline.

    connector = Connector("test.bob", accounts, store, clock, links=[...], routes=[...])
    await connector.start()        # recover what a crash left in flight, start the links
    answer = await connector.handle("alice", prepare)   # what every link's handler does
    await connector.close()

Every Prepare a link delivers is answered exactly once, with a Fulfill or a Reject.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, Protocol, runtime_checkable

import structlog

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.direct_path import DirectPath
from ilpnet.connector.fast_path import FastPath
from ilpnet.connector.pipeline import ExpiryWindow, Forward, Handler, chain
from ilpnet.connector.rates import BalanceHoldings, Rates
from ilpnet.connector.routing_table import LOCAL, Route, RoutingTable
from ilpnet.connector.steps.amount_rate_limit import amount_rate_limit
from ilpnet.connector.steps.convert_amount import convert_amount
from ilpnet.connector.steps.echo import echo
from ilpnet.connector.steps.max_packet_amount import max_packet_amount
from ilpnet.connector.steps.peer_protocols import PeerProtocolHandler, peer_protocols
from ilpnet.connector.steps.rate_limit import Buckets, packet_rate_limit
from ilpnet.connector.steps.record_packet import record_packet
from ilpnet.connector.steps.reject_errors import reject_errors
from ilpnet.connector.steps.reject_expired import reject_expired
from ilpnet.connector.steps.reserve_balance import reserve_balance
from ilpnet.connector.steps.route import Router, route
from ilpnet.connector.steps.send import send_to_link
from ilpnet.connector.steps.shorten_expiry import shorten_expiry
from ilpnet.connector.steps.verify_fulfillment import verify_fulfillment
from ilpnet.connector.store.protocols import PacketState, Store, answers_at_once
from ilpnet.links.base import AnswerCallback, Link
from ilpnet.links.deadline import sleep_until
from ilpnet.wire.address import child_address, validate_address
from ilpnet.wire.errors import ErrorCode
from ilpnet.wire.packet import Fulfill, Prepare, Reject

log = structlog.get_logger(__name__)

_EXPIRED = PacketState.EXPIRED

INT64_MIN = -(2**63)


class Settler(Protocol):
    """Pays a neighbour outside ILP (a ledger transfer, a channel claim).

    One settlement: `intent(account_id)` durably notes that one is being decided and names
    it; the store then raises the balance under that key (RFC 0038: debit first) and
    `settle(account_id, amount, key)` pays the amount (0: nothing was raised; forget the
    intent). `settle` must eventually pay or keep retrying, never silently drop the
    amount. After a crash, `open_intents()` names the intents never settled: the
    connector asks the store again with the same key (it answers what it decided, or
    decides now) and settles that.
    """

    def intent(self, account_id: str) -> str: ...

    async def settle(self, account_id: str, amount: int, key: str) -> None: ...

    def open_intents(self) -> list[tuple[str, str]]:
        """(key, account id) of each intent not yet settled, oldest first."""
        ...


class PacketObserver(Protocol):
    """Sees every answered packet (metrics): the packet, our answer and the seconds spent."""

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None: ...


@runtime_checkable
class PacketCounter(PacketObserver, Protocol):
    """An observer that also takes the figures of `observe` as plain values (metrics): the
    direct path then builds no `Forward` for it."""

    def count_packet(
        self,
        incoming: str,
        out_account: str,
        amount: int,
        out_amount: int,
        code: str,
        seconds: float,
    ) -> None:
        """`observe` of a packet from `incoming` forwarded to `out_account` ("" if it was
        not), with its amount, its recorded outgoing amount (`PacketFacts.out_amount`), the
        code of our Reject ("" for a Fulfill) and the seconds spent."""
        ...


def build_pipeline(c: Connector) -> Handler:
    """The steps in spec 03 §2 order; the last hands the Prepare to the outgoing link."""
    steps = [
        reject_errors(c.address),  # IlpError -> Reject; bug -> T00
        packet_rate_limit(c.clock, c.packet_buckets),  # T05
        max_packet_amount(),  # F08
        amount_rate_limit(c.clock, c.amount_buckets),  # T04
        reject_expired(c.clock),  # R00
        reserve_balance(c.store),  # T04
        peer_protocols(c.address, ccp=c.ccp, settle=c.settle_messages),  # peer.*
        echo(c.address),  # ping: turn an echo request around
        route(c.address, c.routing_table, c.accounts, reflect=c.reflect),  # F02
        convert_amount(c.rates),  # R01, F03
        shorten_expiry(c.clock, c.expiry),  # R02
        record_packet(c.store, c.after_fulfill),  # T04 (minimum)
        verify_fulfillment(),  # F05
    ]
    return chain(steps, send_to_link(c.links, c.clock))


def build_fast_path(c: Connector, *, direct: bool) -> FastPath:
    """`build_pipeline` in one coroutine for most Prepares (see `ilpnet.connector.fast_path`);
    with `direct` and a store that answers at once, also by callbacks (`DirectPath`)."""
    fast = FastPath(
        c.address,
        c.clock,
        c.store,
        Router(c.address, c.routing_table, c.accounts, reflect=c.reflect),
        c.rates,
        c.expiry,
        c.links,
        packet_buckets=c.packet_buckets,
        amount_buckets=c.amount_buckets,
        after_fulfill=c.after_fulfill,
    )
    store = c.store
    if direct and answers_at_once(store):
        counter = c.observer if isinstance(c.observer, PacketCounter) else None
        return DirectPath(
            fast,
            store,
            packet_ids=c.new_packet_id,
            observe=c.observe,
            count=None if counter is None else counter.count_packet,
        )
    return fast


class Connector:
    """One ILP connector node."""

    def __init__(
        self,
        address: str,
        accounts: Iterable[AccountSettings],
        store: Store,
        clock: Clock,
        *,
        links: Iterable[Link] = (),
        routes: Iterable[Route] = (),
        rates: Rates | None = None,
        expiry: ExpiryWindow | None = None,
        settler: Settler | None = None,
        ccp: PeerProtocolHandler | None = None,
        settle_messages: PeerProtocolHandler | None = None,
        observer: PacketObserver | None = None,
        reflect: bool = True,
        sweep_interval: float = 5.0,
        fast_path: bool = True,
        direct_path: bool = True,
    ) -> None:
        self.address = validate_address(address)
        self.accounts: dict[str, AccountSettings] = {}
        for account in accounts:
            if account.id in self.accounts:
                raise ValueError(f"duplicate account id {account.id!r}")
            self.accounts[account.id] = account
        self.store = store
        self.clock = clock
        self.routing_table = RoutingTable()
        for account in self.accounts.values():
            self._add_local_route(account)
        for r in routes:
            if r.next_hop not in self.accounts:
                raise ValueError(f"route {r.prefix!r} goes to unknown account {r.next_hop!r}")
            self.routing_table.add(r)
        self.rates = rates or Rates(BalanceHoldings(store, self.accounts, clock=clock))
        self.expiry = expiry or ExpiryWindow()
        self.settler = settler
        self.observer = observer
        self.sweep_interval = sweep_interval
        self.links: dict[str, Link] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._settle_checks: dict[str, bool] = {}
        """Accounts with a settlement check running -> whether another was asked for."""
        self._id_prefix = f"{uuid.uuid4().hex[:12]}-"
        """Packet ids: a random prefix per Connector object (workers never collide), then a
        counter."""
        self._ids = itertools.count(1)
        self.ccp = ccp
        self.settle_messages = settle_messages
        self.reflect = reflect
        self.packet_buckets: Buckets = {}
        """Token buckets of the packet rate limit (T05), by account."""
        self.amount_buckets: Buckets = {}
        """Token buckets of the money bandwidth limit (T04), by account."""
        self._pipeline: Handler = build_pipeline(self)
        self._fast: FastPath | None = (
            build_fast_path(self, direct=direct_path) if fast_path else None
        )
        """Runs the pipeline for most Prepares; `fast_path=False` sends all through the
        chain of steps (the tests compare both)."""
        self._direct: DirectPath | None = self._fast if isinstance(self._fast, DirectPath) else None
        """The fast path without a task per packet, where the store and the links allow it;
        `direct_path=False` leaves every Prepare to the link's task."""
        for link in links:
            self.attach(link)

    # ---- accounts and links ------------------------------------------------------------

    def _add_local_route(self, account: AccountSettings) -> None:
        if account.relation is Relation.CHILD:
            prefix = child_address(self.address, account.address_segment)
            self.routing_table.add(Route(prefix, account.id, LOCAL))

    def add_account(self, account: AccountSettings) -> None:
        """Add an account at run time (a child's address is routed to it at once)."""
        if account.id in self.accounts:
            raise ValueError(f"duplicate account id {account.id!r}")
        self.accounts[account.id] = account
        self._add_local_route(account)

    def remove_account(self, account_id: str) -> None:
        """Forget an account: its link is detached and its routes withdrawn (its balance
        stays in the store)."""
        self.detach(account_id)
        self.accounts.pop(account_id, None)
        for candidate in [r for r in self.routing_table.routes() if r.next_hop == account_id]:
            self.routing_table.withdraw(candidate.prefix, candidate.source)

    def attach(self, link: Link) -> None:
        """Route packets for `link.account_id` over `link`, and handle what it receives."""
        account_id = link.account_id
        if account_id not in self.accounts:
            raise ValueError(f"link for unknown account {account_id!r}")

        link.set_handler(partial(self.handle, account_id))
        set_direct_handler = getattr(link, "set_direct_handler", None)
        if self._direct is not None and set_direct_handler is not None:
            set_direct_handler(partial(self.handle_now, account_id))
        self.links[account_id] = link

    def detach(self, account_id: str) -> Link | None:
        """Stop using the account's link (packets to it then get T01)."""
        return self.links.pop(account_id, None)

    # ---- packets -----------------------------------------------------------------------

    async def handle(self, account_id: str, prepare: Prepare) -> Fulfill | Reject:
        """Answer one Prepare that arrived from `account_id`."""
        account = self.accounts.get(account_id)
        if account is None:
            return Reject(
                ErrorCode.F00_BAD_REQUEST.value,
                self.address,
                f"unknown account. account={account_id}",
            )
        started = self.clock.monotonic()
        fwd = Forward(self.new_packet_id(), account, prepare, self.clock.now())
        fast = self._fast
        if fast is not None and fast.takes(prepare.destination):
            answer = await fast.forward(fwd)
        else:
            answer = await self._pipeline(fwd)
        self.observe(fwd, answer, self.clock.monotonic() - started)
        return answer

    def handle_now(self, account_id: str, prepare: Prepare, reply: AnswerCallback) -> bool:
        """`handle` by callback (a `DirectHandler`): True when the direct path took the
        Prepare and will call `reply` with the answer `handle` would give, exactly once;
        False, with nothing done, when `handle` must answer it."""
        account = self.accounts.get(account_id)
        direct = self._direct
        if account is None or direct is None:
            return False
        return direct.start(account, prepare, reply)

    def new_packet_id(self) -> str:
        """A fresh in-flight packet id (unique across workers and restarts)."""
        return f"{self._id_prefix}{next(self._ids)}"

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None:
        """Tell the observer (metrics), if any, about an answered packet."""
        if self.observer is not None:
            self.observer.observe(fwd, answer, seconds)

    def after_fulfill(self, account: AccountSettings) -> None:
        """A packet to `account` was fulfilled: settle in the background if the balance
        fell below the account's threshold (one check per account at a time; fulfills
        meanwhile ask for one more check after it)."""
        if self.settler is None or account.settle_threshold is None:
            return
        if account.id in self._settle_checks:
            self._settle_checks[account.id] = True
            return
        self._settle_checks[account.id] = False
        self._spawn(self._settle(account))

    async def _settle(self, account: AccountSettings) -> None:
        assert self.settler is not None
        assert account.settle_threshold is not None
        try:
            while True:
                self._settle_checks[account.id] = False
                key = self.settler.intent(account.id)
                amount = await self.store.begin_settlement(
                    account.id, account.settle_threshold, account.settle_to, key
                )
                if amount > 0:
                    log.info("settlement.started", account=account.id, amount=amount)
                await self.settler.settle(account.id, amount, key)
                if not self._settle_checks[account.id]:
                    return
        finally:
            self._settle_checks.pop(account.id, None)

    async def credit_settlement(
        self, account_id: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        """The neighbour paid us `amount` outside ILP (its debt to us shrinks); with an
        idempotency key, a repeated notice of the same payment changes nothing (False)."""
        return await self.store.settled_incoming(account_id, amount, idempotency_key)

    # ---- life --------------------------------------------------------------------------

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("connector.task_failed", error=repr(task.exception()))

    async def _leftovers(self) -> list[tuple[datetime, Callable[[], Awaitable[bool]]]]:
        """What may be left in flight, earliest first: each pending packet (ended as
        expired) and each hold its packet never took over (released), with the time after
        which nobody but a crashed worker can still be holding it (a message window after
        the packet's outgoing expiry, or after the hold's Prepare expired)."""
        store = self.store
        grace = self.expiry.min_message_window
        found: list[tuple[datetime, Callable[[], Awaitable[bool]]]] = [
            (p.outgoing_expires_at + grace, partial(store.finish_packet, p.packet_id, _EXPIRED))
            for p in await store.pending_packets()
        ]
        found.extend(
            (h.expires_at + grace, partial(store.release_incoming, h.packet_id))
            for h in await store.held_incoming()
        )
        found.sort(key=lambda left: left[0])
        return found

    async def recover(self) -> int:
        """End what a previous run left in flight (`_leftovers`): each packet or hold at once
        if its time has passed, else then, unless the worker that took it ends it first.
        Returns how many there were."""
        leftovers = await self._leftovers()
        now = self.clock.now()
        for when, end in leftovers:
            if when <= now:
                await end()
            else:
                self._spawn(self._end_at(when, end))
        if leftovers:
            log.info("connector.recovered", leftovers=len(leftovers))
        return len(leftovers)

    async def _end_at(self, when: datetime, end: Callable[[], Awaitable[bool]]) -> None:
        await sleep_until(self.clock, when)
        await end()

    async def sweep(self) -> int:
        """End what is still in flight past its time (`_leftovers`: left by a crashed
        worker, or by a call interrupted mid-way); returns how many it ended."""
        now = self.clock.now()
        ended = 0
        for when, end in await self._leftovers():
            if when > now:
                break  # earliest first
            if await end():
                ended += 1
        if ended:
            log.warning("connector.swept", ended=ended)
        return ended

    async def _sweep_forever(self) -> None:
        while True:
            await self.clock.sleep(self.sweep_interval)
            try:
                await self.sweep()
                await self.store.prune_finished()  # ended records are kept one interval
            except Exception:
                log.exception("connector.sweep_failed")

    async def resume_settlements(self) -> int:
        """Settle what a crash left between a settlement's intent and its payment: the
        store answers, under the intent's key, what it decided (or decides now), and the
        settler pays it in the background. Returns how many intents there were."""
        if self.settler is None:
            return 0
        intents = self.settler.open_intents()
        for key, account_id in intents:
            account = self.accounts.get(account_id)
            # an account no longer settling only learns an earlier decision, never a new one
            threshold, settle_to = INT64_MIN, 0
            if account is not None and account.settle_threshold is not None:
                threshold, settle_to = account.settle_threshold, account.settle_to
            amount = await self.store.begin_settlement(account_id, threshold, settle_to, key)
            log.info("settlement.intent_resumed", account=account_id, key=key, amount=amount)
            # in the background: paying may wait for the links, which start after this
            self._spawn(self.settler.settle(account_id, amount, key))
        return len(intents)

    async def start(self) -> None:
        """Recover the store and unfinished settlements, start sweeping, then start every
        attached link."""
        await self.recover()
        await self.resume_settlements()
        if self.sweep_interval > 0 and self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep_forever())
        for link in list(self.links.values()):
            await link.start()

    async def drain(self) -> None:
        """Wait for the background work under way (settlements, recovery timers)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Close the links (in-flight sends end with a Reject) and stop background work."""
        for link in list(self.links.values()):
            await link.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- views -------------------------------------------------------------------------

    def account(self, account_id: str) -> AccountSettings:
        return self.accounts[account_id]

    @property
    def child_accounts(self) -> Mapping[str, AccountSettings]:
        return {k: a for k, a in self.accounts.items() if a.relation is Relation.CHILD}
