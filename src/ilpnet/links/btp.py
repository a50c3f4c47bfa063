"""BTP links over aiohttp WebSockets: `BtpServer` accepts peers and children, `BtpClientLink`
dials out. Both only move bytes between a socket and a `BtpSession`, which holds the rules.

    server = BtpServer([BtpAccount("alice", token="s3cret")], clock=clock, address="g.us")
    port = await server.start("127.0.0.1", 0)           # or server.mount(app, "/btp")
    alice = server.link("alice")                        # valid across reconnects
    client = BtpClientLink(f"ws://127.0.0.1:{port}", "parent", token="s3cret")
    await client.start()
    reply = await client.send(prepare)                  # Fulfill | Reject, never raises
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import structlog
from aiohttp import WSMsgType, web

from ilpnet.clock import Clock, SystemClock
from ilpnet.links.base import AnswerCallback, DirectHandler, IncomingHandler
from ilpnet.links.btp_session import (
    AuthFailed,
    AuthRequested,
    AuthSucceeded,
    BtpEvent,
    BtpSession,
    IncomingPrepare,
    MessageReceived,
    PacketDropped,
    RequestFailed,
    ResponseReceived,
    Role,
    TransferReceived,
    _decode_reply,
)
from ilpnet.links.deadline import answer_by, within_deadline
from ilpnet.links.ws_batch import BatchWriter
from ilpnet.wire.address import validate_address
from ilpnet.wire.btp import BtpErrorCode, BtpType, ProtocolData
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject, reject_from_error

log = structlog.get_logger(__name__)

MAX_MESSAGE_SIZE = 1 << 20
"""Largest WebSocket message accepted (spec 04 §7: well above 64 KiB)."""
CONNECT_TIMEOUT_S = 10.0
"""Bound on dialing and the WebSocket upgrade."""
HEARTBEAT_S = 30.0
"""WebSocket ping interval; BTP has no keep-alive of its own."""

TransferHandler = Callable[[int, tuple[ProtocolData, ...]], Awaitable[None]]
"""Called with (amount, protocol_data) of an incoming Transfer; raise IlpError to refuse."""


class BtpRequestError(IlpError):
    """A BTP request of ours (a Transfer) that the peer refused or never answered."""


class BtpAuthError(IlpError):
    """The server refused our credentials (BTP Error F00); retrying will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F00_BAD_REQUEST, message)


class _Socket(Protocol):
    """What both aiohttp WebSocket classes offer and a connection uses."""

    @property
    def closed(self) -> bool: ...

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None: ...

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage: ...  # noqa: ASYNC109

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Disconnected:
    """Resolves a pending request whose socket went away."""

    reason: str


_TIMED_OUT = object()


class _Waiter(Protocol):
    """A pending request's waiter: an asyncio future, or a `_DirectSend`."""

    def done(self) -> bool: ...

    def set_result(self, result: object, /) -> None: ...


WRITE_EARLY = 32
"""Frames queued on one connection that are written at once rather than at the next turn
of the event loop (measured: ~25 % more packets per second through a connector under load,
for ~5 % more CPU per packet)."""


_BINARY = WSMsgType.BINARY
_MESSAGE = BtpType.MESSAGE
"""Enum members read per message, as globals (an enum attribute costs ~60 ns on 3.11)."""

READ_TURN = 32
"""Messages one connection handles before it lets the event loop run other work."""


class _Connection:
    """One authenticated WebSocket and its session; dies with the socket."""

    def __init__(self, ws: _Socket, session: BtpSession) -> None:
        self.ws = ws
        self.session = session
        self.pending: dict[int, _Waiter] = {}
        self.prepares_queued = 0
        """Incoming Prepares whose tasks have not started yet (`BtpLink._take_prepare`)."""
        self.alive = True
        self._batch = BatchWriter.of(ws)
        self._write_scheduled = False

    def batched(self) -> bool:
        """Whether `flush_soon` would take the frames queued now (a plain aiohttp socket
        that keeps up)."""
        batch = self._batch
        return batch is not None and not batch.congested

    def flush_soon(self) -> bool:
        """On a plain aiohttp socket that keeps up, have the queued frames written at the
        next turn of the event loop, with those every other task queued meanwhile (one
        system call for many), and return True; False when `flush` must write them.

        Once `WRITE_EARLY` frames are waiting they go out at once: the peer (another
        process, maybe on the other CPU) starts on them while this turn goes on, instead
        of both sides taking turns with whole batches."""
        batch = self._batch
        if batch is None or batch.congested:
            return False
        if self.alive:
            if self.session.queued_frames >= WRITE_EARLY:
                self._write()
            elif not self._write_scheduled:
                self._write_scheduled = True
                asyncio.get_running_loop().call_soon(self.write_queued)
        return True

    async def flush(self) -> None:
        """Write every queued frame; a dead socket ends the connection, never raises
        (batched as `flush_soon` says when it can be)."""
        if self.flush_soon():
            return
        for frame in self.session.data_to_send():
            if not self.alive:
                return
            try:
                await self.ws.send_bytes(frame)
            except (ConnectionError, RuntimeError) as exc:
                self.alive = False
                log.debug("btp.write_failed", error=str(exc))
                return

    def write_queued(self) -> None:
        """Write what is queued now, in one write (the batched path of `flush`)."""
        self._write_scheduled = False
        self._write()

    def _write(self) -> None:
        if self._batch is None or not self.alive or not self.session.has_data_to_send:
            return
        try:
            self._batch.write(self.session.data_to_send())
        except (ConnectionError, RuntimeError) as exc:
            log.debug("btp.write_failed", error=str(exc))
            self.fail_pending("peer connection lost while sending")

    def lost(self) -> bool:
        """The socket went away (a write failed or the peer closed)."""
        return not self.alive

    def fail_pending(self, reason: str) -> None:
        self.alive = False
        pending, self.pending = self.pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_result(_Disconnected(reason))


class BtpLink:
    """One account reached over BTP. The object stays the same across reconnects; the
    WebSocket under it comes and goes. Implements `ilpnet.links.base.Link`."""

    def __init__(
        self,
        account_id: str,
        *,
        clock: Clock | None = None,
        address: str = "",
        response_timeout: float = 35.0,
    ) -> None:
        self._account_id = account_id
        self._clock: Clock = clock or SystemClock()
        self._address = ""
        self.address = address
        self.response_timeout = response_timeout
        self._handler: IncomingHandler | None = None
        self._direct_handler: DirectHandler | None = None
        self._transfer_handler: TransferHandler | None = None
        self._conn: _Connection | None = None
        self._connected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the Link interface ----------------------------------------------------------------

    @property
    def address(self) -> str:
        """This node's ILP address, the `triggered_by` of rejects the link makes itself
        ("" until known, e.g. before a child has run ILDCP)."""
        return self._address

    @address.setter
    def address(self, value: str) -> None:
        self._address = validate_address(value) if value else ""

    @property
    def account_id(self) -> str:
        return self._account_id

    def set_handler(self, handler: IncomingHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        """A server-side link is usable as soon as its server runs; sends get T01 until
        the peer connects (see `wait_connected`)."""

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        conn = self._conn
        if conn is None or not conn.alive:
            return self._reject(ErrorCode.T01_PEER_UNREACHABLE, "peer is not connected")
        if prepare.expires_at <= self._clock.now():
            return self._reject(ErrorCode.R00_TRANSFER_TIMED_OUT, "prepare expired before sending")
        rid = conn.session.send_prepare(prepare)
        deadline = prepare.expires_at
        outcome: object
        if conn.flush_soon() and within_deadline(self._clock, deadline):
            # The usual case inside a connector: the write is batched and the connector's
            # own `answer_by` (same deadline) ends the wait; `_request` without its layers.
            if conn.lost():  # an early write found the socket gone
                outcome = _Disconnected("peer connection lost while sending")
            else:
                fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
                conn.pending[rid] = fut
                try:
                    outcome = await fut
                except asyncio.CancelledError:  # the deadline passed: drop a late answer
                    conn.session.forget(rid)
                    raise
                finally:
                    conn.pending.pop(rid, None)
        else:
            outcome = await self._request(conn, rid, deadline)
        return self._answer_of(outcome)

    def _answer_of(self, outcome: object) -> Fulfill | Reject:
        """What `send` returns for what its request's waiter got."""
        if isinstance(outcome, ResponseReceived) and outcome.packet is not None:
            return outcome.packet
        if outcome is _TIMED_OUT:
            return self._reject(ErrorCode.R00_TRANSFER_TIMED_OUT, "no answer before expiry")
        if isinstance(outcome, RequestFailed):
            return self._reject(
                ErrorCode.T01_PEER_UNREACHABLE,
                f"peer could not take the packet: BTP {outcome.code} {outcome.name}: "
                f"{outcome.message}",
            )
        reason = outcome.reason if isinstance(outcome, _Disconnected) else "no ILP reply"
        return self._reject(ErrorCode.T01_PEER_UNREACHABLE, reason)

    # -- DirectLink: the same without a task per packet --------------------------------

    def set_direct_handler(self, handler: DirectHandler | None) -> None:
        self._direct_handler = handler

    def ready_now(self) -> bool:
        """Connected, writing batched frames to a socket that keeps up, on the real clock."""
        conn = self._conn
        return (
            conn is not None and conn.alive and conn.batched() and type(self._clock) is SystemClock
        )

    def send_now(self, prepare: Prepare, on_answer: AnswerCallback) -> _DirectSend:
        """`send` by callback (`ilpnet.links.base.DirectLink`); call when `ready_now()`.
        Like `send` inside the connector's own deadline, it sets no timer of its own."""
        conn = self._conn
        if conn is None or not conn.alive:
            on_answer(self._reject(ErrorCode.T01_PEER_UNREACHABLE, "peer is not connected"))
            return _DirectSend(self, None, 0, on_answer)
        if prepare.expires_at <= self._clock.now():
            on_answer(
                self._reject(ErrorCode.R00_TRANSFER_TIMED_OUT, "prepare expired before sending")
            )
            return _DirectSend(self, None, 0, on_answer)
        rid = conn.session.send_prepare(prepare)
        sent = _DirectSend(self, conn, rid, on_answer)
        conn.flush_soon()
        if conn.lost():  # an early write found the socket gone
            sent.set_result(_Disconnected("peer connection lost while sending"))
        else:
            conn.pending[rid] = sent
        return sent

    async def close(self) -> None:
        """Drop the connection, end in-flight sends with T01 and stop answering."""
        self._closed = True
        await self.disconnect("link closed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = {task for task in self._tasks if not task.done()}

    # -- beyond Link --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The peer is connected and authenticated now."""
        return self._conn is not None and self._conn.alive

    async def wait_connected(self) -> None:
        """Until the peer is connected and authenticated (bound it with asyncio.wait_for)."""
        await self._connected.wait()

    def set_transfer_handler(self, handler: TransferHandler) -> None:
        """Register who accepts incoming Transfers (settlement notices)."""
        self._transfer_handler = handler

    async def send_transfer(
        self, amount: int, protocol_data: tuple[ProtocolData, ...] = ()
    ) -> tuple[ProtocolData, ...]:
        """Tell the peer we paid it `amount` more; returns the protocol data of its
        Response (it has credited us). Raises `BtpRequestError` when it did not."""
        conn = self._conn
        if conn is None or not conn.alive:
            raise BtpRequestError(ErrorCode.T01_PEER_UNREACHABLE, "peer is not connected")
        rid = conn.session.send_transfer(amount, protocol_data)
        deadline = self._clock.now() + timedelta(seconds=self.response_timeout)
        outcome = await self._request(conn, rid, deadline)
        if isinstance(outcome, ResponseReceived):
            return outcome.protocol_data
        if outcome is _TIMED_OUT:
            raise BtpRequestError(ErrorCode.R00_TRANSFER_TIMED_OUT, "transfer not answered")
        if isinstance(outcome, RequestFailed):
            raise BtpRequestError(
                ErrorCode.F00_BAD_REQUEST,
                f"peer refused transfer: {outcome.code} {outcome.name}: {outcome.message}",
            )
        reason = outcome.reason if isinstance(outcome, _Disconnected) else "no answer"
        raise BtpRequestError(ErrorCode.T01_PEER_UNREACHABLE, reason)

    async def disconnect(self, reason: str = "disconnected") -> None:
        """Close the current WebSocket (if any); the link itself stays usable."""
        conn = self._conn
        if conn is None:
            return
        self._detach(conn, reason)
        await _close_socket(conn.ws, reason)

    # -- internals ----------------------------------------------------------------------

    def _reject(self, code: ErrorCode, message: str) -> Reject:
        return Reject(code.value, self.address, message, b"")

    async def _request(self, conn: _Connection, rid: int, deadline: datetime) -> object:
        """Flush the queued request `rid` and wait for its answer until `deadline`."""
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        conn.pending[rid] = fut
        if not conn.flush_soon():
            await conn.flush()
        if not conn.alive:
            conn.pending.pop(rid, None)
            return _Disconnected("peer connection lost while sending")
        try:
            outcome = await answer_by(self._clock, deadline, fut)
        finally:
            conn.pending.pop(rid, None)
        if outcome is None:
            conn.session.forget(rid)
            return _TIMED_OUT
        return outcome

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _detach(self, conn: _Connection, reason: str) -> None:
        if conn.alive:
            conn.write_queued()  # what was queued this turn goes out before any close
        if conn.alive or conn.pending:
            conn.fail_pending(reason)
        if self._conn is conn:
            self._conn = None
            self._connected.clear()
            log.info("btp.disconnected", account=self._account_id, reason=reason)

    async def _serve(self, ws: _Socket, session: BtpSession) -> None:
        """Run one authenticated socket until it closes; a newer socket replaces this one."""
        conn = _Connection(ws, session)
        old, self._conn = self._conn, conn
        if old is not None:
            self._detach(old, "replaced by a new connection")
            self._spawn(_close_socket(old.ws, "replaced by a new connection"))
        self._connected.set()
        log.info("btp.connected", account=self._account_id, role=session.role.value)
        try:
            await conn.flush()
            unbroken = 0
            while conn.alive:
                msg = await ws.receive()
                if msg.type is _BINARY:
                    try:
                        hot = session.read_hot(msg.data) if self._direct_handler else None
                        if hot is None or not self._hot(conn, hot):
                            for event in session.receive(msg.data):
                                self._dispatch(conn, event)
                    except Exception:  # a bug here must not take the socket down
                        log.exception("btp.receive_failed", account=self._account_id)
                    if session.has_data_to_send and not conn.flush_soon():
                        await conn.flush()
                    unbroken += 1
                    if unbroken >= READ_TURN:
                        # `receive` returns queued messages without yielding; hundreds can
                        # come from one socket read, and the direct handler forwards each
                        # one in full: let the loop write and read between them.
                        unbroken = 0
                        await asyncio.sleep(0)
                elif msg.type is WSMsgType.TEXT:
                    log.warning("btp.text_frame_dropped", account=self._account_id)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                elif msg.type is WSMsgType.ERROR:
                    log.info("btp.socket_error", account=self._account_id, error=str(msg.data))
                    break
        finally:
            self._detach(conn, "peer connection closed")
            if not ws.closed:
                await ws.close()

    def _dispatch(self, conn: _Connection, event: BtpEvent) -> None:
        if type(event) is IncomingPrepare:  # the usual event first (events are final)
            self._take_prepare(conn, event.request_id, event.prepare)
        elif isinstance(event, ResponseReceived | RequestFailed):
            fut = conn.pending.get(event.request_id)
            if fut is not None and not fut.done():
                fut.set_result(event)
        elif isinstance(event, TransferReceived):
            self._spawn(self._answer_transfer(conn, event))
        elif isinstance(event, MessageReceived):
            name = event.protocol_data[0].protocol_name if event.protocol_data else ""
            conn.session.respond_error(
                event.request_id, BtpErrorCode.F00_NOT_ACCEPTED, f"unsupported protocol {name!r}"
            )
        elif isinstance(event, PacketDropped):
            log.info("btp.packet_dropped", account=self._account_id, reason=event.reason)
        else:  # auth events cannot happen on an open session
            log.warning("btp.unexpected_event", account=self._account_id, event=repr(event))

    def _take_prepare(self, conn: _Connection, request_id: int, prepare: Prepare) -> None:
        """The direct handler first, unless a Prepare of this connection still waits for its
        task to start: in the order of arrival, as if every Prepare had a task."""
        direct = self._direct_handler
        if (
            direct is not None
            and not conn.prepares_queued
            and direct(prepare, _DirectReply(self, conn, request_id))
        ):
            return
        conn.prepares_queued += 1
        # not `_spawn`: the task leaves `_tasks` itself (a done callback costs a turn)
        event = IncomingPrepare(request_id, prepare)
        task = asyncio.get_running_loop().create_task(self._answer_prepare(conn, event))
        self._tasks.add(task)

    async def _answer_prepare(self, conn: _Connection, event: IncomingPrepare) -> None:
        conn.prepares_queued -= 1  # this one has started: later ones may go direct again
        try:
            handler = self._handler
            if handler is None:
                conn.session.respond_error(
                    event.request_id, BtpErrorCode.T00_UNREACHABLE, "no handler for ILP packets"
                )
            else:
                reply: Fulfill | Reject
                try:
                    reply = await handler(event.prepare)
                    if not isinstance(reply, Fulfill | Reject):
                        raise TypeError(f"handler returned {type(reply).__name__}")
                except IlpError as exc:
                    reply = reject_from_error(exc, self.address)
                except Exception:
                    log.exception("btp.handler_failed", account=self._account_id)
                    reply = self._reject(ErrorCode.T00_INTERNAL_ERROR, "internal error")
                if not self._respond(conn, event.request_id, reply):
                    return
            if not conn.flush_soon():
                await conn.flush()
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)

    def _hot(self, conn: _Connection, hot: tuple[int, int, bytes]) -> bool:
        """Handle a frame `read_hot` returned without session events; False: not handled
        (only for a Message, which the session has not consumed)."""
        kind, rid, ilp = hot
        if kind == _MESSAGE:
            try:
                prepare = Prepare.decode(ilp)
            except IlpError:
                return False
            self._take_prepare(conn, rid, prepare)
            return True
        try:
            reply = _decode_reply(ilp)
        except IlpError as exc:
            event: ResponseReceived | RequestFailed = RequestFailed(
                rid, "F01", "InvalidFieldsError", f"bad ilp reply: {exc}"
            )
        else:
            waiter = conn.pending.get(rid)
            if type(waiter) is _DirectSend:
                waiter.answer(reply)
                return True
            event = ResponseReceived(rid, (), reply)
        self._dispatch(conn, event)
        return True

    def _respond(self, conn: _Connection, request_id: int, reply: Fulfill | Reject) -> bool:
        """Queue the answer to the peer's Prepare `request_id`; False when the socket it
        came on has gone (the answer is lost)."""
        if not conn.alive:
            log.info("btp.reply_lost", account=self._account_id, request_id=request_id)
            return False
        conn.session.respond_ilp(request_id, reply)
        return True

    def _reply_now(self, conn: _Connection, request_id: int, reply: Fulfill | Reject) -> None:
        """Write the answer of a Prepare taken by the direct handler."""
        if self._respond(conn, request_id, reply) and not conn.flush_soon():
            self._spawn(conn.flush())

    async def _answer_transfer(self, conn: _Connection, event: TransferReceived) -> None:
        handler = self._transfer_handler
        if handler is None:
            conn.session.respond_error(
                event.request_id, BtpErrorCode.F00_NOT_ACCEPTED, "transfers are not accepted"
            )
        else:
            try:
                await handler(event.amount, event.protocol_data)
            except IlpError as exc:
                conn.session.respond_error(
                    event.request_id, BtpErrorCode.F00_NOT_ACCEPTED, exc.message
                )
            except Exception:
                log.exception("btp.transfer_handler_failed", account=self._account_id)
                conn.session.respond_error(
                    event.request_id, BtpErrorCode.T00_UNREACHABLE, "internal error"
                )
            else:
                conn.session.respond(event.request_id)
        await conn.flush()


class _DirectReply:
    """The `AnswerCallback` of one Prepare taken by a link's direct handler."""

    __slots__ = ("conn", "link", "request_id")

    def __init__(self, link: BtpLink, conn: _Connection, request_id: int) -> None:
        self.link = link
        self.conn = conn
        self.request_id = request_id

    def __call__(self, reply: Fulfill | Reject) -> None:
        conn = self.conn
        if not conn.alive:
            self.link._reply_now(conn, self.request_id, reply)  # logs the lost answer
            return
        conn.session.respond_ilp(self.request_id, reply)  # `_reply_now`, inlined
        if not conn.flush_soon():
            self.link._spawn(conn.flush())


class _DirectSend:
    """A Prepare sent by `BtpLink.send_now`: the waiter of its request (`_Waiter`)."""

    __slots__ = ("conn", "link", "on_answer", "request_id")

    def __init__(
        self, link: BtpLink, conn: _Connection | None, request_id: int, on_answer: AnswerCallback
    ) -> None:
        self.link = link
        self.conn = conn
        self.request_id = request_id
        self.on_answer = on_answer

    def done(self) -> bool:
        return False  # it leaves `pending` when it gets its result

    def set_result(self, outcome: object, /) -> None:
        self.answer(self.link._answer_of(outcome))

    def answer(self, reply: Fulfill | Reject) -> None:
        """The answer `send` would return (`set_result` makes it of any outcome)."""
        conn = self.conn
        if conn is not None:
            conn.pending.pop(self.request_id, None)
        self.on_answer(reply)

    def abandon(self) -> None:
        conn = self.conn
        if conn is not None and conn.pending.pop(self.request_id, None) is not None:
            conn.session.forget(self.request_id)


# ---- server ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtpAccount:
    """An account the server accepts: the client presents `token` (and `username`, which
    defaults to the account id; a client that sends no username is matched by token)."""

    account_id: str
    token: str = field(repr=False)
    username: str | None = None

    @property
    def login(self) -> str:
        return self.username if self.username is not None else self.account_id


class BtpServer:
    """Accepts BTP connections and hands each authenticated socket to its account's link."""

    def __init__(
        self,
        accounts: Iterable[BtpAccount],
        *,
        clock: Clock | None = None,
        address: str = "",
        auth_timeout: float = 10.0,
        response_timeout: float = 35.0,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self.auth_timeout = auth_timeout
        self._accounts: dict[str, BtpAccount] = {}
        self._by_login: dict[str, BtpAccount] = {}
        self._links: dict[str, BtpLink] = {}
        for account in accounts:
            if account.account_id in self._accounts or account.login in self._by_login:
                raise ValueError(f"duplicate BTP account {account.account_id!r}")
            self._accounts[account.account_id] = account
            self._by_login[account.login] = account
            self._links[account.account_id] = BtpLink(
                account.account_id,
                clock=self._clock,
                address=address,
                response_timeout=response_timeout,
            )
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        """The port `start` bound."""
        self._sockets: set[web.WebSocketResponse] = set()

    def link(self, account_id: str) -> BtpLink:
        """The link of `account_id` (KeyError when not configured)."""
        return self._links[account_id]

    @property
    def links(self) -> dict[str, BtpLink]:
        return dict(self._links)

    def mount(self, app: web.Application, path: str = "/") -> None:
        """Serve BTP on `path` of an existing aiohttp app."""
        app.router.add_get(path, self.handle)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on host:port alone; returns the bound port (useful with port 0)."""
        app = web.Application()
        self.mount(app, "/")
        self.mount(app, "/{tail:.+}")
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.port = int(bound[1])
        log.info("btp.listening", host=host, port=self.port)
        return self.port

    async def close(self) -> None:
        for link in self._links.values():
            await link.close()
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server closing")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def authenticate(self, username: str | None, token: str) -> BtpAccount | None:
        """The account these credentials name, compared in constant time."""
        if username:
            account = self._by_login.get(username)
            ok = account is not None and hmac.compare_digest(account.token.encode(), token.encode())
            return account if ok else None
        found = [
            a
            for a in self._accounts.values()
            if hmac.compare_digest(a.token.encode(), token.encode())
        ]
        return found[0] if len(found) == 1 else None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler: upgrade, authenticate, then serve the account's link."""
        ws = web.WebSocketResponse(
            max_msg_size=MAX_MESSAGE_SIZE, heartbeat=HEARTBEAT_S, compress=False
        )
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            session = BtpSession(Role.SERVER, self._clock)
            account = await self._auth(ws, session, request.remote or "?")
            if account is not None:
                await self._links[account.account_id]._serve(ws, session)
        finally:
            self._sockets.discard(ws)
            if not ws.closed:
                await ws.close()
        return ws

    async def _auth(
        self, ws: web.WebSocketResponse, session: BtpSession, remote: str
    ) -> BtpAccount | None:
        deadline = self._clock.now() + timedelta(seconds=self.auth_timeout)
        while True:
            msg = await answer_by(self._clock, deadline, ws.receive())
            if msg is None:
                log.info("btp.auth_timeout", remote=remote)
                return None
            if msg.type is not WSMsgType.BINARY:
                log.info("btp.auth_refused", remote=remote, reason=f"{msg.type.name} frame")
                return None
            for event in session.receive(msg.data):
                if isinstance(event, AuthRequested):
                    account = self.authenticate(event.username, event.token)
                    link = None if account is None else self._links[account.account_id]
                    if account is None or link is None or link._closed:
                        session.reject_auth("invalid auth_token")
                        log.info("btp.auth_refused", remote=remote, username=event.username)
                        await _flush(ws, session)
                        return None
                    session.accept_auth()
                    await _flush(ws, session)
                    return account
                if isinstance(event, AuthFailed):
                    log.info("btp.auth_refused", remote=remote, reason=event.reason)
                    await _flush(ws, session)
                    return None


async def _close_socket(ws: _Socket, reason: str) -> None:
    with suppress(ConnectionError, RuntimeError):
        await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=reason.encode()[:120])


async def _flush(ws: _Socket, session: BtpSession) -> None:
    for frame in session.data_to_send():
        with suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(frame)


# ---- client ---------------------------------------------------------------------------


def _split_btp_url(url: str) -> tuple[str, str | None, str | None]:
    """`btp+ws://user:token@host/path` -> ("ws://host/path", user, token)."""
    if url.startswith("btp+"):
        url = url[4:]
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"BTP URL must be ws://, wss:// or btp+ws(s)://, got {parts.scheme!r}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    plain = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    user = unquote(parts.username) if parts.username else None
    token = unquote(parts.password) if parts.password is not None else None
    return plain, user, token


class BtpClientLink(BtpLink):
    """Dials a BTP server, authenticates, and reconnects with exponential backoff."""

    def __init__(
        self,
        url: str,
        account_id: str,
        token: str | None = None,
        username: str = "",
        *,
        clock: Clock | None = None,
        address: str = "",
        response_timeout: float = 35.0,
        auth_timeout: float = 10.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            account_id, clock=clock, address=address, response_timeout=response_timeout
        )
        self._url, url_user, url_token = _split_btp_url(url)
        self._token = token if token is not None else (url_token or "")
        self._username = username or url_user or ""
        self.auth_timeout = auth_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.start_timeout = start_timeout
        self._http: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self.connects = 0
        """How many times the link has authenticated (1 after start, +1 per reconnect)."""

    @property
    def url(self) -> str:
        return self._url

    async def start(self) -> None:
        """Connect and authenticate; retries (with backoff) until `start_timeout`.
        Raises `BtpAuthError` if the server refuses the token, `ConnectionError` on timeout."""
        if self._runner is not None:
            return
        self._closed = False
        # the handshake is bounded; the socket after it lives as long as the peer answers
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S)
        )
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.ensure_future(self._run())
        first = self._first
        timer = asyncio.ensure_future(self._clock.sleep(self.start_timeout))
        try:
            await asyncio.wait({first, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not first.done():
            await self.close()
            raise ConnectionError(f"BTP: could not connect to {self._url} in time")
        exc = first.exception()
        if exc is not None:
            await self.close()
            raise exc

    async def close(self) -> None:
        self._closed = True
        runner, self._runner = self._runner, None
        await super().close()
        if runner is not None:
            runner.cancel()
            with suppress(asyncio.CancelledError):
                await runner
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _run(self) -> None:
        delay = self.backoff_initial
        while not self._closed:
            if await self._connect_once():
                delay = self.backoff_initial
            elif self._gave_up():
                return
            await self._clock.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    def _gave_up(self) -> bool:
        """The server refused our token before we ever connected: start() raises."""
        first = self._first
        return first is not None and first.done() and first.exception() is not None

    async def _connect_once(self) -> bool:
        """One connection: dial, authenticate, serve until it drops. True if it authed."""
        assert self._http is not None
        try:
            ws = await self._http.ws_connect(
                self._url, max_msg_size=MAX_MESSAGE_SIZE, heartbeat=HEARTBEAT_S
            )
        except (aiohttp.ClientError, OSError) as exc:
            log.info("btp.connect_failed", account=self._account_id, url=self._url, error=str(exc))
            return False
        try:
            session = BtpSession(Role.CLIENT, self._clock)
            session.authenticate(self._token, self._username or None)
            await _flush(ws, session)
            failure = await self._auth_answer(ws, session)
            if failure is not None:
                refused, reason = failure
                log.warning("btp.auth_failed", account=self._account_id, reason=reason)
                first = self._first
                if refused and first is not None and not first.done() and self.connects == 0:
                    first.set_exception(BtpAuthError(reason))
                return False
            self.connects += 1
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            await self._serve(ws, session)
            return True
        finally:
            if not ws.closed:
                await ws.close()

    async def _auth_answer(
        self, ws: aiohttp.ClientWebSocketResponse, session: BtpSession
    ) -> tuple[bool, str] | None:
        """None when the server accepted our auth, else (whether it refused us, why)."""
        deadline = self._clock.now() + timedelta(seconds=self.auth_timeout)
        while True:
            msg = await answer_by(self._clock, deadline, ws.receive())
            if msg is None:
                return False, "no answer to auth"
            if msg.type is not WSMsgType.BINARY:
                if msg.type is WSMsgType.TEXT:
                    continue
                return False, "connection closed during auth"
            for event in session.receive(msg.data):
                if isinstance(event, AuthSucceeded):
                    return None
                if isinstance(event, AuthFailed):
                    return True, event.reason
            await _flush(ws, session)
