"""The ledger escrow link: a connector's account on one test ledger, paid by on-ledger escrows.

Outgoing, `send(prepare)` escrows the Prepare's amount from the connector's account to the
receiver its destination names (``<ledger prefix>.<account>[.more]``), under the same
condition, expiring `margin` before the Prepare (so the ledger's verdict is known before
the connector's own deadline), with the Prepare in the memo. It answers Fulfill when the
ledger worker sees the escrow fulfilled (fulfillment = preimage), Reject R00 when it sees
it expire, and a Reject with the ledger's code when the ledger refuses to create it.

Incoming, an escrow to the connector's account whose memo is an ILP Prepare matching it
(same amount and condition) becomes a Prepare handed to the connector's handler, expiring
with the escrow. On Fulfill the link fulfils the escrow on-ledger with the preimage; on
Reject it leaves the escrow to roll back (the test ledger has no cancel).

Every step is written to the `EscrowBook` first and every ledger write carries a request
id derived from the escrow id, so `recover()` after a crash repeats what may not have
happened and nothing happens twice: an escrow created for an incoming one is keyed
``out:<link>:<incoming escrow id>``, its fulfilment ``fulfil:<escrow id>``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
import structlog

from ilpnet.clock import Clock
from ilpnet.crypto.condition import fulfillment_matches
from ilpnet.ledger import errors as ledger_errors
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import Escrow, EscrowState, Event, EventType, LedgerInfo, Transfer
from ilpnet.links.base import IncomingHandler
from ilpnet.links.escrow_book import (
    FINAL_INCOMING,
    EscrowBook,
    IncomingEscrow,
    IncomingState,
    OutgoingEscrow,
    OutgoingState,
)
from ilpnet.wire.address import is_valid_address, is_valid_segment
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject

log = structlog.get_logger(__name__)

_SOURCE: ContextVar[str] = ContextVar("escrow_source", default="")
"""`<link>:<escrow id>` of the incoming escrow whose Prepare is being forwarded."""


@contextmanager
def payment_source(source: str) -> Iterator[None]:
    """Name the payment forwarded inside the block (``<kind>:<id>``): an escrow link keys
    the escrow it makes for it ``out:<source>``, so recovery can find it again."""
    token = _SOURCE.set(source)
    try:
        yield
    finally:
        _SOURCE.reset(token)


def current_source() -> str:
    """The payment source named by the innermost `payment_source` ("" if none)."""
    return _SOURCE.get()


FAULT_POINTS = ("before_create", "after_create", "outgoing_fulfilled", "before_fulfil_incoming")
"""Where `LedgerEscrowLink.fault` is called: before and after the ledger creates an outgoing
escrow, when the worker sees one fulfilled (before recording it), and before the connector
fulfils the incoming escrow."""

RETRY_DELAY = 0.2
"""Seconds between attempts of a ledger write that failed for lack of an answer."""


class EscrowGate(Protocol):
    """Who may pay through the connector (deposits), and what a roll-back costs them."""

    async def admit(self, escrow: IncomingEscrow, prepare: Prepare) -> None:
        """Raise an IlpError to refuse forwarding (the escrow is left to roll back)."""
        ...

    async def finished(
        self, escrow: IncomingEscrow, fulfilled: bool, outgoing: OutgoingEscrow | None
    ) -> None:
        """The incoming escrow ended; `outgoing` is what the connector escrowed for it."""
        ...

    async def deposited(self, link: str, transfer: Transfer) -> None:
        """A plain transfer reached the connector's account on this link's ledger."""
        ...


OrphanFulfilled = Callable[[OutgoingEscrow], Awaitable[None]]
"""Told of an outgoing escrow fulfilled while no `send` waited for it (after a restart)."""


def _ms(t: datetime) -> datetime:
    """`t` in UTC, cut to whole milliseconds (what ILP and the ledger carry)."""
    t = t.astimezone(UTC)
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


class LedgerEscrowLink:
    """The connector's account on one ledger, as a `Link`."""

    def __init__(
        self,
        account_id: str,
        client: LedgerClient,
        book: EscrowBook,
        clock: Clock,
        *,
        address: str = "",
        secret: str = "",
        margin: timedelta = timedelta(seconds=1),
        gate: EscrowGate | None = None,
    ) -> None:
        if client.account is None:
            raise ValueError("the escrow link's ledger client needs the connector's account")
        self._account_id = account_id
        self.client = client
        self.book = book
        self.clock = clock
        self.address = address
        """This node's ILP address, the `triggered_by` of the link's own rejects."""
        self._secret = secret
        self.margin = margin
        self.gate = gate
        self.info: LedgerInfo | None = None
        self.peers: Mapping[str, LedgerEscrowLink] = {}
        """Every escrow link of the node by account id (to finish recovered payments)."""
        self.orphan_fulfilled: OrphanFulfilled | None = None
        self.fault: Callable[[str], None] | None = None
        """Fault injection for crash tests: called at each named point (see `FAULT_POINTS`)."""
        self._handler: IncomingHandler | None = None
        self._waiters: dict[str, asyncio.Future[Fulfill | Reject]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # ---- Link ---------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self._account_id

    @property
    def me(self) -> str:
        """The connector's account name on the ledger."""
        assert self.client.account is not None
        return self.client.account

    @property
    def prefix(self) -> str:
        """The ledger's ILP address prefix (its name)."""
        if self.info is None:
            raise RuntimeError(f"escrow link {self._account_id} not started")
        return self.info.name

    def set_handler(self, handler: IncomingHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        """Read the ledger's info and make sure the connector's account exists."""
        if self.info is None:
            self.info = await self.client.info()
            if self._secret:
                await self.client.create_account(self.me, self._secret)
            await self.client.get_account()

    async def close(self) -> None:
        self._closed = True
        for key, waiter in list(self._waiters.items()):
            if not waiter.done():
                waiter.set_result(
                    self._reject(ErrorCode.T01_PEER_UNREACHABLE, f"link closed. escrow={key}")
                )
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _reject(self, code: ErrorCode | str, message: str) -> Reject:
        return Reject(str(code), self.address, message[:8000])

    def _spawn(self, job: Awaitable[None], name: str) -> None:
        async def run() -> None:
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("escrow.task_failed", link=self._account_id, task=name)

        task = asyncio.create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- outgoing -----------------------------------------------------------------------

    def receiver_of(self, destination: str) -> str:
        """The ledger account a destination names (F02 when it is not on this ledger)."""
        prefix = self.prefix
        if not destination.startswith(prefix + "."):
            raise IlpError(
                ErrorCode.F02_UNREACHABLE,
                f"destination is not on ledger {prefix}. destination={destination}",
            )
        receiver = destination[len(prefix) + 1 :].split(".", 1)[0]
        if not is_valid_segment(receiver):
            raise IlpError(ErrorCode.F02_UNREACHABLE, f"no account in {destination}")
        return receiver

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        if self._closed or self.info is None:
            return self._reject(
                ErrorCode.T01_PEER_UNREACHABLE, f"link not running. account={self._account_id}"
            )
        try:
            receiver = self.receiver_of(prepare.destination)
        except IlpError as err:
            return self._reject(err.code, err.message)
        expires_at = _ms(prepare.expires_at - self.margin)
        if expires_at <= self.clock.now():
            return self._reject(
                ErrorCode.R02_INSUFFICIENT_TIMEOUT,
                f"too little time for a ledger escrow. expires_at={prepare.expires_at.isoformat()}",
            )
        source = _SOURCE.get()
        key = f"out:{source}" if source else f"out:{self._account_id}:{uuid.uuid4().hex}"
        memo = prepare.with_changes(expires_at=expires_at).encode()
        record = self.book.add_outgoing(
            OutgoingEscrow(
                key=key,
                ledger=self._account_id,
                receiver=receiver,
                amount=prepare.amount,
                condition=prepare.execution_condition,
                expires_at=expires_at,
                memo=memo,
                source=source,
            )
        )
        if record.state is not OutgoingState.INTENT:
            return self._reject(ErrorCode.F00_BAD_REQUEST, f"escrow {key} was already made")
        waiter: asyncio.Future[Fulfill | Reject] = asyncio.get_running_loop().create_future()
        self._waiters[key] = waiter
        try:
            failure = await self._create(record)
            if failure is not None:
                return failure
            # the worker resolves the waiter; a cancelled send leaves the escrow to it
            return await asyncio.shield(waiter)
        finally:
            self._waiters.pop(key, None)

    def _at(self, point: str) -> None:
        if self.fault is not None:
            self.fault(point)

    async def _create_escrow(self, record: OutgoingEscrow) -> Escrow:
        """Ask the ledger for the escrow `record` describes (its key is the request id, so
        asking again never makes a second one)."""
        return await self.client.create_escrow(
            record.receiver,
            record.amount,
            record.condition,
            record.expires_at,
            record.memo,
            request_id=record.key,
        )

    async def _create(self, record: OutgoingEscrow) -> Reject | None:
        """Create the escrow (repeating the same request until the ledger answers)."""
        while True:
            self._at("before_create")
            try:
                escrow = await self._create_escrow(record)
            except ledger_errors.LedgerError as err:
                if isinstance(err, ledger_errors.InternalError):
                    if await self._wait_retry(record.expires_at):
                        continue
                    return None  # unknown outcome: the worker or recovery will tell
                self.book.update_outgoing(record.key, OutgoingState.FAILED, message=err.message)
                log.info("escrow.create_refused", link=self._account_id, error=err.error)
                return self._reject(err.ilp_code, f"ledger refused the escrow: {err.message}")
            except (aiohttp.ClientError, TimeoutError, OSError) as err:
                log.warning("escrow.create_retry", link=self._account_id, error=repr(err))
                if await self._wait_retry(record.expires_at):
                    continue
                return None
            self._at("after_create")
            self._created(record.key, escrow)
            return None

    async def _wait_retry(self, until: datetime) -> bool:
        if self._closed or self.clock.now() >= until:
            return False
        await self.clock.sleep(RETRY_DELAY)
        return True

    def _created(self, key: str, escrow: Escrow) -> None:
        if self.book.update_outgoing(
            key, OutgoingState.PENDING, escrow_id=escrow.id, fee=escrow.fee
        ):
            log.info(
                "escrow.created",
                link=self._account_id,
                escrow=escrow.id,
                amount=escrow.amount,
                receiver=escrow.receiver,
            )
        if escrow.state is not EscrowState.PENDING:
            orphan = self._outgoing_ended(escrow)
            if orphan is not None:
                self._spawn(self.finish_orphan(orphan), f"orphan-{key}")

    def _find_outgoing(self, escrow: Escrow) -> OutgoingEscrow | None:
        found = self.book.outgoing_by_escrow(self._account_id, escrow.id)
        if found is not None:
            return found
        # the worker can see the escrow before the create call returns its id
        for record in self.book.open_outgoing(self._account_id):
            if (
                record.state is OutgoingState.INTENT
                and record.condition == escrow.condition
                and record.receiver == escrow.receiver
                and record.amount == escrow.amount
                and record.expires_at == escrow.expires_at
                and record.memo == escrow.memo
            ):
                self.book.update_outgoing(
                    record.key, OutgoingState.PENDING, escrow_id=escrow.id, fee=escrow.fee
                )
                return self.book.outgoing(record.key)
        return None

    def _outgoing_ended(self, escrow: Escrow) -> OutgoingEscrow | None:
        """Record how an outgoing escrow ended and answer its `send`; returns the record
        when it was fulfilled with no `send` waiting (the caller runs `finish_orphan`)."""
        record = self._find_outgoing(escrow)
        if record is None:
            log.warning("escrow.unknown_outgoing", link=self._account_id, escrow=escrow.id)
            return None
        waiter = self._waiters.get(record.key)
        if escrow.state is EscrowState.FULFILLED and escrow.preimage is not None:
            self._at("outgoing_fulfilled")
            if not self.book.update_outgoing(
                record.key, OutgoingState.FULFILLED, escrow_id=escrow.id, preimage=escrow.preimage
            ):
                return None  # already recorded (a replayed event)
            log.info("escrow.outgoing_fulfilled", link=self._account_id, escrow=escrow.id)
            answer: Fulfill | Reject = Fulfill(escrow.preimage)
        elif escrow.state is EscrowState.EXPIRED:
            if not self.book.update_outgoing(
                record.key, OutgoingState.EXPIRED, escrow_id=escrow.id
            ):
                return None
            log.info("escrow.outgoing_expired", link=self._account_id, escrow=escrow.id)
            answer = self._reject(
                ErrorCode.R00_TRANSFER_TIMED_OUT, f"escrow expired. escrow={escrow.id}"
            )
        else:
            return None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)
            return None
        if isinstance(answer, Fulfill):
            return self.book.outgoing(record.key)
        return None

    async def finish_orphan(self, record: OutgoingEscrow) -> None:
        """An outgoing escrow fulfilled with no `send` waiting: pay ourselves upstream."""
        assert record.preimage is not None
        if self.orphan_fulfilled is not None:
            await self.orphan_fulfilled(record)
        if record.source:
            link_id, escrow_id = record.source.split(":", 1)
            link = self.peers.get(link_id)
            if link is not None:
                await link.complete_incoming(escrow_id, record.preimage)

    # ---- incoming -----------------------------------------------------------------------

    async def _incoming_created(self, escrow: Escrow) -> None:
        if self.book.incoming(self._account_id, escrow.id) is not None:
            return  # seen before (a replayed event)
        record = IncomingEscrow(
            escrow_id=escrow.id,
            ledger=self._account_id,
            sender=escrow.sender,
            amount=escrow.amount,
            condition=escrow.condition,
            expires_at=escrow.expires_at,
        )
        try:
            prepare = self._prepare_of(escrow)
        except IlpError as err:
            self._refuse(record, err)
            return
        record = IncomingEscrow(
            escrow_id=escrow.id,
            ledger=self._account_id,
            sender=escrow.sender,
            amount=escrow.amount,
            condition=escrow.condition,
            expires_at=escrow.expires_at,
            destination=prepare.destination,
        )
        self.book.add_incoming(record)
        if self.gate is not None:
            try:
                await self.gate.admit(record, prepare)
            except IlpError as err:
                self._refuse(record, err)
                return
        self.book.update_incoming(
            self._account_id,
            escrow.id,
            IncomingState.FORWARDED,
            out_key=f"out:{self._account_id}:{escrow.id}",
        )
        self._spawn(self._forward(record, prepare), f"forward-{escrow.id}")

    def _refuse(self, record: IncomingEscrow, err: IlpError) -> None:
        self.book.add_incoming(record)
        self.book.update_incoming(
            record.ledger,
            record.escrow_id,
            IncomingState.REFUSED,
            code=str(err.code),
            message=err.message,
        )
        log.info(
            "escrow.incoming_refused",
            link=self._account_id,
            escrow=record.escrow_id,
            sender=record.sender,
            code=str(err.code),
            reason=err.message,
        )

    def _prepare_of(self, escrow: Escrow) -> Prepare:
        """The Prepare an incoming escrow carries (F01 when the memo is not a matching one)."""
        try:
            prepare = Prepare.decode(escrow.memo)
        except IlpError as err:
            raise IlpError(
                ErrorCode.F01_INVALID_PACKET, f"escrow memo is not an ILP Prepare: {err.message}"
            ) from None
        if prepare.execution_condition != escrow.condition:
            raise IlpError(ErrorCode.F01_INVALID_PACKET, "memo condition is not the escrow's")
        if prepare.amount != escrow.amount:
            raise IlpError(
                ErrorCode.F01_INVALID_PACKET,
                f"memo amount {prepare.amount} is not the escrow's {escrow.amount}",
            )
        if not is_valid_address(prepare.destination):
            raise IlpError(ErrorCode.F01_INVALID_PACKET, "memo destination is not an address")
        expires_at = min(prepare.expires_at, _ms(escrow.expires_at))
        return prepare.with_changes(expires_at=expires_at)

    async def _forward(self, record: IncomingEscrow, prepare: Prepare) -> None:
        if self._handler is None:
            answer: Fulfill | Reject = self._reject(
                ErrorCode.T01_PEER_UNREACHABLE, "connector not ready"
            )
        else:
            with payment_source(f"{self._account_id}:{record.escrow_id}"):
                answer = await self._handler(prepare)
        if isinstance(answer, Fulfill):
            if not fulfillment_matches(answer.fulfillment, record.condition):
                log.error("escrow.bad_fulfillment", escrow=record.escrow_id)
                return
            await self.complete_incoming(record.escrow_id, answer.fulfillment)
            return
        self.book.update_incoming(
            self._account_id,
            record.escrow_id,
            IncomingState.REJECTED,
            code=answer.code,
            message=answer.message,
        )
        log.info(
            "escrow.incoming_rejected",
            link=self._account_id,
            escrow=record.escrow_id,
            code=answer.code,
            reason=answer.message,
        )

    async def complete_incoming(self, escrow_id: str, preimage: bytes) -> None:
        """Fulfil incoming escrow `escrow_id` on-ledger (idempotent; retried until answered)."""
        record = self.book.incoming(self._account_id, escrow_id)
        if record is None or record.state in FINAL_INCOMING:
            return
        self.book.update_incoming(
            self._account_id, escrow_id, IncomingState.FULFILLING, preimage=preimage
        )
        while True:
            self._at("before_fulfil_incoming")
            try:
                escrow = await self.client.fulfil_escrow(
                    escrow_id, preimage, request_id=f"fulfil:{escrow_id}"
                )
            except ledger_errors.AlreadyFulfilled:
                escrow = await self.client.get_escrow(escrow_id)
            except ledger_errors.EscrowExpired as err:
                log.error("escrow.fulfil_too_late", escrow=escrow_id, error=err.message)
                return  # the worker's expiry event records it
            except (ledger_errors.InternalError, aiohttp.ClientError, TimeoutError, OSError):
                if await self._wait_retry(record.expires_at):
                    continue
                return
            break
        if escrow.state is EscrowState.FULFILLED:
            await self._incoming_ended(escrow)

    async def _incoming_ended(self, escrow: Escrow) -> None:
        if escrow.state is EscrowState.FULFILLED:
            state = IncomingState.FULFILLED
        elif escrow.state is EscrowState.EXPIRED:
            state = IncomingState.EXPIRED
        else:
            return
        moved = self.book.update_incoming(
            self._account_id, escrow.id, state, preimage=escrow.preimage
        )
        record = self.book.incoming(self._account_id, escrow.id)
        if not moved or record is None:
            return
        log.info("escrow.incoming_" + state.value, link=self._account_id, escrow=escrow.id)
        if self.gate is not None:
            outgoing = self.book.outgoing(record.out_key) if record.out_key else None
            await self.gate.finished(record, state is IncomingState.FULFILLED, outgoing)

    # ---- events (from the ledger worker) ------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """Apply one notification; durable before it returns (the worker then moves on)."""
        escrow = event.escrow
        if escrow is not None:
            mine_in = escrow.receiver == self.me
            mine_out = escrow.sender == self.me
            if event.type is EventType.ESCROW_CREATED and mine_in and not mine_out:
                await self._incoming_created(escrow)
            elif event.type in (EventType.ESCROW_FULFILLED, EventType.ESCROW_EXPIRED):
                if mine_out:
                    orphan = self._outgoing_ended(escrow)
                    if orphan is not None:
                        self._spawn(self.finish_orphan(orphan), f"orphan-{orphan.key}")
                if mine_in:
                    await self._incoming_ended(escrow)
            return
        transfer = event.transfer
        if (
            event.type is EventType.TRANSFER_RECEIVED
            and transfer is not None
            and transfer.receiver == self.me
            and transfer.sender != self.me
            and self.gate is not None
        ):
            await self.gate.deposited(self._account_id, transfer)

    # ---- recovery -----------------------------------------------------------------------

    async def recover_outgoing(self) -> None:
        """Repeat the creates a crash may have cut off and learn how each escrow ended."""
        for record in self.book.open_outgoing(self._account_id):
            escrow_id = record.escrow_id
            if record.state is OutgoingState.INTENT:
                try:
                    created = await self._create_escrow(record)
                except ledger_errors.LedgerError as err:
                    self.book.update_outgoing(record.key, OutgoingState.FAILED, message=err.message)
                    continue
                self.book.update_outgoing(
                    record.key, OutgoingState.PENDING, escrow_id=created.id, fee=created.fee
                )
                escrow_id = created.id
            escrow = await self.client.get_escrow(escrow_id)
            orphan = self._outgoing_ended(escrow)
            if orphan is not None:
                await self.finish_orphan(orphan)
        log.info("escrow.recovered_outgoing", link=self._account_id)

    async def recover_incoming(self) -> None:
        """Finish incoming escrows a crash left open: fulfil those whose payment went through,
        leave the others to roll back."""
        for record in self.book.open_incoming(self._account_id):
            escrow = await self.client.get_escrow(record.escrow_id)
            if escrow.state is not EscrowState.PENDING:
                await self._incoming_ended(escrow)
                continue
            if record.state is IncomingState.FULFILLING and record.preimage is not None:
                self._spawn(
                    self.complete_incoming(record.escrow_id, record.preimage),
                    f"fulfil-{record.escrow_id}",
                )
                continue
            outgoing = self.book.outgoing(record.out_key) if record.out_key else None
            if outgoing is not None and outgoing.state is OutgoingState.FULFILLED:
                assert outgoing.preimage is not None
                self._spawn(
                    self.complete_incoming(record.escrow_id, outgoing.preimage),
                    f"fulfil-{record.escrow_id}",
                )
            elif outgoing is not None and outgoing.state is OutgoingState.PENDING:
                pass  # its outcome arrives as an event; `finish_orphan` completes this one
            elif record.state in (IncomingState.RECEIVED, IncomingState.FORWARDED):
                self.book.update_incoming(
                    self._account_id,
                    record.escrow_id,
                    IncomingState.REJECTED,
                    code=ErrorCode.T00_INTERNAL_ERROR.value,
                    message="connector restarted before forwarding; left to roll back",
                )
        log.info("escrow.recovered_incoming", link=self._account_id)
