"""The fast path without a task per packet, for a store that answers at once.

`FastPath.forward` is one coroutine per Prepare: a task to run it, a future to wait for
the next hop, a timer for the expiry, and every store call awaited. When the store answers
without awaiting (`SyncStore`, the memory store) and both links can work by callback
(`DirectLink`, BTP), none of that is needed: `DirectPath.start` runs the same steps, in
the same order, from the incoming link's read callback up to the outgoing link's queue,
and `_Flight` finishes them from the outgoing link's read callback (the answer) or from a
shared deadline timer (the expiry), then hands the answer to the incoming link.

It takes a Prepare only when it can see, before changing anything, that the Prepare goes
that way: not for ``peer.*`` or the connector's own address, a route, a fixed price for
the pair (a price from the pool is awaited), and an outgoing link `ready_now`. Anything
else it leaves to `FastPath` (the link then runs its task). Outcome for outcome it is the
fast path, and so the chain (`tests/connector/test_direct_path.py` compares them).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.fast_path import FastPath
from ilpnet.connector.pipeline import Forward
from ilpnet.connector.steps.amount_rate_limit import take_amount
from ilpnet.connector.steps.convert_amount import priced_amount
from ilpnet.connector.steps.max_packet_amount import check_packet_amount
from ilpnet.connector.steps.peer_protocols import PEER_PREFIX
from ilpnet.connector.steps.rate_limit import take_packet
from ilpnet.connector.steps.reject_expired import check_not_expired
from ilpnet.connector.steps.shorten_expiry import outgoing_expiry
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


class DirectPath(FastPath):
    """`FastPath` that also runs by callbacks, for Prepares `start` accepts."""

    __slots__ = ("_ids", "_now", "_observe")

    def __init__(
        self,
        fast: FastPath,
        store: SyncStore,
        *,
        packet_ids: Callable[[], str],
        observe: Observe | None,
    ) -> None:
        for name in FastPath.__slots__:  # the same settings as `fast`
            setattr(self, name, getattr(fast, name))
        self._now = store
        """The store again, by its methods that answer at once."""
        self._ids = packet_ids
        self._observe = observe

    def start(self, account: AccountSettings, prepare: Prepare, reply: AnswerCallback) -> bool:
        """Take `prepare` (arrived from `account`) and answer it through `reply`, exactly
        once; or return False, having changed nothing, when it must take the fast path."""
        destination = prepare.destination
        if destination == self._address or destination.startswith(PEER_PREFIX):
            return False
        amount = prepare.amount
        try:  # both without side effects: what the route and convert steps will find
            out_account = self._router.next_hop(account.id, destination)
            out_amount = priced_amount(self._rates, account, out_account, amount)
        except IlpError:
            return False
        if out_amount is None:
            return False
        link = self._links.get(out_account.id)
        ready_now = getattr(link, "ready_now", None)
        if ready_now is None or not ready_now():
            return False
        assert link is not None
        direct: DirectLink = link  # type: ignore[assignment]  # it has ready_now
        clock = self._clock
        started = clock.monotonic()
        now = clock.now()  # one reading for the whole start (the fast path takes three)
        fwd = Forward(self._ids(), account, prepare, now)
        flight = _Flight(self, fwd, reply, started)
        facts = fwd.facts
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
            if amount:  # reserve_balance
                store.reserve_incoming_now(
                    fwd.packet_id, account.id, amount, account.maximum, expires_at
                )
            try:
                # route and convert_amount: found above, before any change
                out_expires_at = outgoing_expiry(expires_at, now, self._expiry)
                out_id = out_account.id
                if amount or out_amount:  # record_packet
                    record = InFlight(
                        fwd.packet_id,
                        account.id,
                        amount,
                        out_id,
                        out_amount,
                        prepare.execution_condition,
                        expires_at,
                        out_expires_at,
                    )
                    try:
                        store.begin_packet_now(record, out_account.minimum)
                    except InsufficientLiquidityError:
                        raise
                    except BaseException:
                        if store.finish_packet_now(record.packet_id, _REJECTED):
                            facts.recorded = True
                        raise
                    facts.recorded = True
                    facts.out_amount = out_amount
                    flight.record = record
                facts.out_account = out_id
                flight.out_account = out_account
                try:  # send_to_link
                    outgoing = prepare.with_changes(amount=out_amount, expires_at=out_expires_at)
                    sending = direct.send_now(outgoing, flight.answered)
                except BaseException:
                    if flight.record is not None:
                        store.finish_packet_now(flight.record.packet_id, _REJECTED)
                    raise
                if not flight.done:  # (else the link answered at once)
                    flight.sending = sending
                    flight.alarm = alarm_in((out_expires_at - now).total_seconds(), flight.expired)
            except BaseException:
                if amount and not facts.recorded:
                    store.release_incoming_now(fwd.packet_id)
                raise
        except IlpError as err:
            flight.end(reject_from_error(err, self._address))
        except Exception:
            log.exception("prepare.failed", packet_id=fwd.packet_id, account=account.id)
            flight.end(Reject(ErrorCode.T00_INTERNAL_ERROR.value, self._address, "internal error."))
        return True


class _Flight:
    """One Prepare taken by `DirectPath.start`, from the send to the answer."""

    __slots__ = (
        "alarm",
        "done",
        "fwd",
        "out_account",
        "path",
        "record",
        "reply",
        "sending",
        "started",
    )

    def __init__(
        self, path: DirectPath, fwd: Forward, reply: AnswerCallback, started: float
    ) -> None:
        self.path = path
        self.fwd = fwd
        self.reply = reply
        self.started = started
        self.done = False
        self.record: InFlight | None = None
        self.out_account: AccountSettings | None = None
        self.sending: PendingSend | None = None
        self.alarm: Alarm | None = None

    def answered(self, answer: Fulfill | Reject) -> None:
        """The outgoing link's answer (the link's own Rejects included)."""
        if self.done:
            return
        alarm = self.alarm
        if alarm is not None:
            alarm.cancel()
        self.alarm = self.sending = None  # they refer back to this flight: no cycles left
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
        fwd = self.fwd
        facts = fwd.facts
        record = self.record
        amount = fwd.prepare.amount
        answer: Fulfill | Reject
        try:
            try:
                try:
                    if sent is None:
                        raise TransferTimedOutError("packet expired.")
                    answer = sent
                    check_fulfillment(answer, fwd.prepare.execution_condition, facts.out_account)
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
                if amount and not facts.recorded:
                    store.release_incoming_now(fwd.packet_id)
                raise
            if amount and not facts.recorded:
                if isinstance(answer, Fulfill):
                    store.commit_incoming_now(fwd.packet_id)
                else:
                    store.release_incoming_now(fwd.packet_id)
        except IlpError as err:
            answer = reject_from_error(err, path._address)
        except Exception:
            log.exception("prepare.failed", packet_id=fwd.packet_id, account=fwd.account.id)
            answer = Reject(ErrorCode.T00_INTERNAL_ERROR.value, path._address, "internal error.")
        self.end(answer)

    def end(self, answer: Fulfill | Reject) -> None:
        """Hand `answer` to the incoming link (once) and to the observer."""
        self.done = True
        fwd = self.fwd
        fwd.facts.outcome_code = answer.code if isinstance(answer, Reject) else ""
        observe = self.path._observe
        if observe is not None:
            observe(fwd, answer, self.path._clock.monotonic() - self.started)
        self.reply(answer)
