"""The fast path without a task per packet, for a store that answers at once.

`FastPath.forward` is one coroutine per Prepare: a task to run it, a future to wait for
the next hop, a timer for the expiry, and every store call awaited. When the store answers
without awaiting (`SyncStore`, the memory store) and both links can work by callback
(`DirectLink`, BTP), none of that is needed: `DirectPath.start` runs the same steps, in
the same order, from the incoming link's read callback up to the outgoing link's queue,
and `_Flight` finishes them from the outgoing link's read callback (the answer) or from a
shared deadline timer (the expiry, `_Expiries`: one queue and one loop timer for all
flights), then hands the answer to the incoming link and to the observer (as plain values
to a `PacketCounter` such as the metrics, without building a `Forward`).

It takes a Prepare only when it can see, before changing anything, that the Prepare goes
that way: not for ``peer.*`` or the connector's own address, a route, a fixed price for
the pair (a price from the pool is awaited), and an outgoing link `ready_now`. Anything
else it leaves to `FastPath` (the link then runs its task). Outcome for outcome it is the
fast path, and so the chain (`tests/connector/test_direct_path.py` compares them).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime

import structlog

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import TransferTimedOutError
from ilpnet.connector.fast_path import FastPath
from ilpnet.connector.pipeline import Forward, PacketFacts
from ilpnet.connector.steps.amount_rate_limit import take_amount
from ilpnet.connector.steps.convert_amount import priced_amount
from ilpnet.connector.steps.max_packet_amount import check_packet_amount
from ilpnet.connector.steps.peer_protocols import PEER_PREFIX
from ilpnet.connector.steps.rate_limit import take_packet
from ilpnet.connector.steps.reject_expired import check_not_expired
from ilpnet.connector.steps.shorten_expiry import outgoing_expiry, usable_expiry
from ilpnet.connector.steps.verify_fulfillment import check_fulfillment
from ilpnet.connector.store.protocols import InFlight, PacketState, SyncStore
from ilpnet.links.base import AnswerCallback, DirectLink, PendingSend
from ilpnet.links.deadline import Alarm, alarm_in
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject, reject_from_error

log = structlog.get_logger(__name__)

_REJECTED = PacketState.REJECTED
_FULFILLED = PacketState.FULFILLED
_EXPIRED = PacketState.EXPIRED

Observe = Callable[[Forward, Fulfill | Reject, float], None]
Count = Callable[[str, str, int, int, str, float], None]
"""`observe` from plain values (`ConnectorMetrics.count_packet`): incoming account, outgoing
account ("" if not forwarded), amount, recorded outgoing amount, our Reject's code ("" for a
Fulfill), seconds."""

LATE_MAX = 0.001
"""How much later than its deadline `_Expiries` may expire a flight to keep it queued (the
per-millisecond alarms of `alarm_in` may be as late)."""
QUEUED_MAX = 4096
"""Flights `_Expiries` keeps in its queue; beyond, the oldest still unanswered get an
`Alarm` of their own (a flight stays queued until those before it are answered)."""


class DirectPath(FastPath):
    """`FastPath` that also runs by callbacks, for Prepares `start` accepts."""

    __slots__ = ("_count", "_expiries", "_ids", "_now", "_observe")

    def __init__(
        self,
        fast: FastPath,
        store: SyncStore,
        *,
        packet_ids: Callable[[], str],
        observe: Observe | None,
        count: Count | None = None,
    ) -> None:
        for name in FastPath.__slots__:  # the same settings as `fast`
            setattr(self, name, getattr(fast, name))
        self._now = store
        """The store again, by its methods that answer at once."""
        self._ids = packet_ids
        self._observe = observe
        self._count = count
        """Takes the place of `observe` when given (no `Forward` to build per packet)."""
        self._expiries = _Expiries()

    def start(self, account: AccountSettings, prepare: Prepare, reply: AnswerCallback) -> bool:
        """Take `prepare` (arrived from `account`) and answer it through `reply`, exactly
        once; or return False, having changed nothing, when it must take the fast path."""
        destination = prepare.destination
        if destination == self._address or destination.startswith(PEER_PREFIX):
            return False
        amount = prepare.amount
        try:  # without side effects: what the route and convert steps will find
            out_account = self._router.next_hop(account.id, destination)
            out_amount = priced_amount(self._rates, account, out_account, amount)
        except IlpError:  # (R01, F03 as well: the fast path says which)
            return False
        if out_amount is None:  # priced by the pool: awaited
            return False
        out_id = out_account.id
        link = self._links.get(out_id)
        ready_now = getattr(link, "ready_now", None)
        if ready_now is None or not ready_now():
            return False
        assert link is not None
        direct: DirectLink = link  # type: ignore[assignment]  # it has ready_now
        clock = self._clock
        started = clock.monotonic()
        now = clock.now()  # one reading for the whole start (the fast path takes three)
        flight = _Flight(self, account, prepare, reply, started, now)
        store = self._now
        try:  # reject_errors: refusals become Rejects from us, a bug T00
            if account.packet_rate is not None:  # packet_rate_limit
                take_packet(self._packet_buckets, clock, account)
            if account.max_packet_amount is not None:  # max_packet_amount
                check_packet_amount(account, amount)
            if account.amount_rate is not None:  # amount_rate_limit
                take_amount(self._amount_buckets, clock, account, amount)
            expires_at = prepare.expires_at
            check_not_expired(expires_at, now)  # reject_expired
            # what shorten_expiry will find (None: it refuses, after the reservation)
            at_once = usable_expiry(expires_at, now, self._expiry) if amount else None
            if at_once is not None:
                # reserve_balance ... record_packet in one store call (nothing between them
                # could refuse: route, price and outgoing expiry are known)
                record = InFlight(
                    flight.packet_id,
                    account.id,
                    amount,
                    out_id,
                    out_amount,
                    prepare.execution_condition,
                    expires_at,
                    at_once,
                )
                store.reserve_and_begin_now(record, account.maximum, out_account.minimum)
                flight.recorded = True
                flight.out_amount = out_amount
                flight.record = record
            elif amount:  # reserve_balance (shorten_expiry will then refuse: R02)
                store.reserve_incoming_now(
                    flight.packet_id, account.id, amount, account.maximum, expires_at
                )
            try:
                # route and convert_amount: found above, before any change. A Prepare of
                # amount zero (so out_amount zero) moves no money: record_packet skips it.
                if at_once is not None:
                    out_expires_at = at_once
                else:
                    out_expires_at = outgoing_expiry(expires_at, now, self._expiry)
                flight.out_id = out_id
                flight.out_account = out_account
                try:  # send_to_link
                    outgoing = prepare.with_changes(amount=out_amount, expires_at=out_expires_at)
                    sending = direct.send_now(outgoing, flight)
                except BaseException:
                    if flight.record is not None:
                        store.finish_packet_now(flight.record.packet_id, _REJECTED)
                    raise
                if not flight.done:  # (else the link answered at once)
                    flight.sending = sending
                    self._expiries.add(flight, (out_expires_at - now).total_seconds())
            except BaseException:
                if amount and not flight.recorded:
                    store.release_incoming_now(flight.packet_id)
                raise
        except IlpError as err:
            flight.end(reject_from_error(err, self._address))
        except Exception:
            log.exception("prepare.failed", packet_id=flight.packet_id, account=account.id)
            flight.end(Reject(ErrorCode.T00_INTERNAL_ERROR.value, self._address, "internal error."))
        return True


class _Flight:
    """One Prepare taken by `DirectPath.start`, from the send to the answer; called with
    the outgoing link's answer (its `AnswerCallback`)."""

    __slots__ = (
        "account",
        "alarm",
        "deadline",
        "done",
        "out_account",
        "out_amount",
        "out_id",
        "packet_id",
        "path",
        "prepare",
        "received_at",
        "record",
        "recorded",
        "reply",
        "sending",
        "started",
    )

    def __init__(
        self,
        path: DirectPath,
        account: AccountSettings,
        prepare: Prepare,
        reply: AnswerCallback,
        started: float,
        received_at: datetime,
    ) -> None:
        self.path = path
        self.packet_id = path._ids()
        self.account = account
        self.prepare = prepare
        self.reply = reply
        self.started = started
        self.received_at = received_at
        self.done = False
        self.recorded = False
        """The in-flight record owns the balance reservations (`PacketFacts.recorded`)."""
        self.out_id = ""
        self.out_amount = 0
        self.record: InFlight | None = None
        self.out_account: AccountSettings | None = None
        self.sending: PendingSend | None = None
        self.alarm: Alarm | None = None
        """Its own expiry timer, when `_Expiries` could not keep it in order."""
        self.deadline = 0.0
        """The outgoing expiry by the loop's clock (`_Expiries`)."""

    def __call__(self, answer: Fulfill | Reject) -> None:
        """The outgoing link's answer (the link's own Rejects included)."""
        if self.done:
            return
        alarm = self.alarm
        if alarm is not None:
            alarm.cancel()
            self.alarm = None
        self.sending = None  # it refers back to this flight: no cycle left
        self._finish(answer)

    def expired(self) -> None:
        """The outgoing expiry passed with no answer: what `answer_by` returning None does."""
        if self.done:
            return
        sending = self.sending
        if sending is not None:
            sending.abandon()
        self.alarm = self.sending = None
        self._finish(None)

    def _finish(self, sent: Fulfill | Reject | None) -> None:
        """The fast path from `answer_by`'s return on: its `try` blocks, inside out."""
        path = self.path
        store = path._now
        record = self.record
        account = self.account
        amount = self.prepare.amount
        answer: Fulfill | Reject
        try:
            try:
                try:
                    if sent is None:
                        raise TransferTimedOutError("packet expired.")
                    answer = sent
                    check_fulfillment(answer, self.prepare.execution_condition, self.out_id)
                except TransferTimedOutError:
                    if record is not None:
                        store.finish_packet_now(record.packet_id, _EXPIRED)
                    raise
                except BaseException:
                    if record is not None:
                        store.finish_packet_now(record.packet_id, _REJECTED)
                    raise
                if record is not None:
                    if isinstance(answer, Reject):
                        store.finish_packet_now(record.packet_id, _REJECTED)
                    elif not store.finish_packet_now(record.packet_id, _FULFILLED):
                        raise TransferTimedOutError("packet expired.")
                    elif path._after_fulfill is not None:
                        assert self.out_account is not None
                        path._after_fulfill(self.out_account)
            except BaseException:
                if amount and not self.recorded:
                    store.release_incoming_now(self.packet_id)
                raise
            if amount and not self.recorded:
                if isinstance(answer, Fulfill):
                    store.commit_incoming_now(self.packet_id)
                else:
                    store.release_incoming_now(self.packet_id)
        except IlpError as err:
            answer = reject_from_error(err, path._address)
        except Exception:
            log.exception("prepare.failed", packet_id=self.packet_id, account=account.id)
            answer = Reject(ErrorCode.T00_INTERNAL_ERROR.value, path._address, "internal error.")
        self.end(answer)

    def end(self, answer: Fulfill | Reject) -> None:
        """Hand `answer` to the incoming link (once) and to the observer."""
        self.done = True
        path = self.path
        code = answer.code if isinstance(answer, Reject) else ""
        count = path._count
        if count is not None:
            count(
                self.account.id,
                self.out_id,
                self.prepare.amount,
                self.out_amount,
                code,
                path._clock.monotonic() - self.started,
            )
        elif path._observe is not None:
            facts = PacketFacts(self.recorded, code, self.out_id, self.out_amount)
            fwd = Forward(self.packet_id, self.account, self.prepare, self.received_at, facts=facts)
            path._observe(fwd, answer, path._clock.monotonic() - self.started)
        self.reply(answer)


class _Expiries:
    """The outgoing expiries of the flights under way, with one loop timer for all.

    Most flights come in the order of their deadlines (every one is the Prepare's expiry
    less the same margin, or the same hold time from now), so a queue in arrival order is
    also in deadline order: `add` appends, and one timer, set for the queue's head, expires
    what is due. Answered flights leave from either end (`add` drops them). A flight due
    more than `LATE_MAX` before the tail gets an `Alarm` of its own instead; so do the
    oldest unanswered ones once `QUEUED_MAX` are queued (an answered flight behind an
    unanswered one stays queued until that one ends)."""

    __slots__ = ("_loop", "_queue", "_timer")

    def __init__(self) -> None:
        self._queue: deque[_Flight] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(self, flight: _Flight, seconds: float) -> None:
        """Expire `flight` once `seconds` have passed (by the loop's clock), unless it is
        answered first: never early, at most `LATE_MAX` and the loop's turn late."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        if loop is not self._loop:  # a new loop (tests): what the old one held is gone
            self._loop = loop
            self._timer = None
            queue.clear()
        deadline = loop.time() + (seconds if seconds > 0 else 0.0)
        while queue and queue[-1].done:
            queue.pop()
        if queue:
            last = queue[-1].deadline
            if deadline < last:
                # Prepares of one expiry differ by the jitter between the two clocks'
                # readings: up to `LATE_MAX` late, it waits for the one before it
                if last - deadline > LATE_MAX:
                    flight.deadline = deadline
                    flight.alarm = alarm_in(seconds, flight.expired)
                    return
                deadline = last
        flight.deadline = deadline
        queue.append(flight)
        while queue[0].done:  # answered (the flight just added is not)
            queue.popleft()
        if len(queue) > QUEUED_MAX:
            self._spill(loop)
        head = queue[0].deadline
        timer = self._timer
        if timer is None or head < timer.when():  # (answered flights left the queue)
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(head, self._due)

    def _spill(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the oldest unanswered flights alarms of their own, until the queue is short."""
        queue = self._queue
        now = loop.time()
        while len(queue) > QUEUED_MAX // 2:
            flight = queue.popleft()
            if not flight.done:
                flight.alarm = alarm_in(flight.deadline - now, flight.expired)

    def _due(self) -> None:
        """The timer: expire the flights due, then set it for the next one."""
        self._timer = None
        loop = self._loop
        if loop is None:
            return
        queue = self._queue
        now = loop.time()
        while queue:
            flight = queue[0]
            if not flight.done:
                if flight.deadline > now:
                    self._timer = loop.call_at(flight.deadline, self._due)
                    return
                try:
                    flight.expired()
                except Exception:  # one failing flight must not keep the others
                    log.exception("expiry.failed", packet_id=flight.packet_id)
            queue.popleft()
