"""STREAM server: accepts many connections for many receivers behind one ILP address.

Shared secrets are derived statelessly from one server secret, as the reference server
does (spec 07 §2): each connection's address is `<server address>.<token>`, where the
token is the server-secret encryption of random bytes and a connection tag (the receiver
it belongs to), and the shared secret is HMAC(HMAC(server secret, ...), token). On an
incoming Prepare the server reads the token from the destination and rebuilds the
connection; only the server secret must be kept.

    server = StreamServer(address="test.alice", asset=AssetDetails("USD", 2))
    link.set_handler(server.handle_prepare)
    creds = server.generate_credentials("bob")          # what SPSP hands out
    async for payment in server.payments(): ...         # money as it arrives
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from ilpnet.app.stream.client import StreamClient
from ilpnet.app.stream.connection import (
    UNLIMITED,
    AssetDetails,
    ConnectionEvent,
    MoneyReceived,
    Role,
    StreamConnection,
)
from ilpnet.app.stream.errors import StreamStateError
from ilpnet.clock import Clock, SystemClock
from ilpnet.crypto.stream_keys import StreamDecryptError, decrypt, encrypt, server_shared_secret
from ilpnet.links.base import Link
from ilpnet.wire.errors import DecodeError, ErrorCode, IlpError, InvalidValueError
from ilpnet.wire.oer import Reader, encode_var_octets
from ilpnet.wire.packet import Fulfill, Prepare, Reject, reject_from_error
from ilpnet.wire.stream import StreamErrorCode

log = structlog.get_logger(__name__)

TOKEN_RANDOM_BYTES = 18
IDLE_TIMEOUT_S = 60.0
PREPARE_EXPIRY_S = 30.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client needs to open a connection (what SPSP returns)."""

    destination_account: str
    shared_secret: bytes


@dataclass(frozen=True, slots=True)
class IncomingPayment:
    """Money that arrived on a connection, in the server's asset units."""

    connection_id: str
    connection_tag: str | None
    stream_id: int
    amount: int
    stream_total: int
    connection_total: int
    asset: AssetDetails


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """Any connection event, with the connection it happened on."""

    connection_id: str
    connection_tag: str | None
    event: ConnectionEvent


class StreamServer:
    """Answers Prepares for `<address>.<token>` addresses (register `handle_prepare` as a
    link's handler). Streams opened by clients accept up to `receive_max` each."""

    def __init__(
        self,
        *,
        address: str,
        asset: AssetDetails,
        server_secret: bytes | None = None,
        clock: Clock | None = None,
        receive_max: int = UNLIMITED,
        link: Link | None = None,
        idle_timeout: float = IDLE_TIMEOUT_S,
    ) -> None:
        self.address = address
        self.asset = asset
        self.server_secret = server_secret if server_secret is not None else os.urandom(32)
        if len(self.server_secret) != 32:
            raise InvalidValueError("the STREAM server secret must be 32 bytes")
        self.clock: Clock = clock or SystemClock()
        self.receive_max = receive_max
        self.link = link
        self.idle_timeout = idle_timeout
        self.connections: dict[str, StreamConnection] = {}
        self._last_seen: dict[str, float] = {}
        self._listeners: list[Callable[[ServerEvent], None]] = []
        self._payment_queues: list[asyncio.Queue[IncomingPayment | None]] = []
        self._prefix = address + "."

    # ---- credentials --------------------------------------------------------------------

    def generate_credentials(self, connection_tag: str | None = None) -> Credentials:
        """A fresh address and shared secret; `connection_tag` names the receiver."""
        tag = (connection_tag or "").encode("utf-8")
        plaintext = (
            os.urandom(TOKEN_RANDOM_BYTES)
            + encode_var_octets(tag)
            + encode_var_octets(b"")  # receipt nonce (not used)
            + encode_var_octets(b"")  # receipt secret (not used)
        )
        token = encrypt(self.server_secret, plaintext)
        segment = base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii")
        return Credentials(
            f"{self._prefix}{segment}", server_shared_secret(self.server_secret, token)
        )

    def _open_token(self, segment: str) -> tuple[bytes, str | None]:
        """The token of an address segment and its connection tag; IlpError F02 if it is
        not one this server issued."""
        try:
            token = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
            plaintext = decrypt(self.server_secret, token)
            r = Reader(plaintext)
            r.read_bytes(TOKEN_RANDOM_BYTES, "token random bytes")
            tag = r.read_var_octets("connection tag").decode("utf-8")
        except (binascii.Error, ValueError, StreamDecryptError, DecodeError):
            raise IlpError(ErrorCode.F02_UNREACHABLE, "no such STREAM connection") from None
        return token, tag or None

    # ---- incoming packets ---------------------------------------------------------------

    async def handle_prepare(self, prepare: Prepare) -> Fulfill | Reject:
        """Answer one incoming Prepare (the link's IncomingHandler); never raises."""
        try:
            connection_id, connection = self._connection_for(prepare.destination)
            reply = connection.handle_prepare(prepare)
            self._dispatch(connection_id, connection)
            return reply
        except IlpError as err:
            return reject_from_error(err, self.address)
        except Exception:
            log.exception("stream.server.error", destination=prepare.destination)
            return Reject(ErrorCode.T00_INTERNAL_ERROR, self.address, "internal error", b"")

    def _connection_for(self, destination: str) -> tuple[str, StreamConnection]:
        if not destination.startswith(self._prefix):
            raise IlpError(ErrorCode.F02_UNREACHABLE, f"{destination} is not served here")
        segment = destination[len(self._prefix) :].partition(".")[0]
        now = self.clock.monotonic()
        connection = self.connections.get(segment)
        if connection is None:
            token, tag = self._open_token(segment)
            self._prune(now)
            connection = StreamConnection(
                role=Role.SERVER,
                shared_secret=server_shared_secret(self.server_secret, token),
                own_address=self.address,
                asset=self.asset,
                default_receive_max=self.receive_max,
                connection_tag=tag,
            )
            self.connections[segment] = connection
        self._last_seen[segment] = now
        return segment, connection

    def _prune(self, now: float) -> None:
        stale = [cid for cid, seen in self._last_seen.items() if now - seen > self.idle_timeout]
        for cid in stale:
            self.connections.pop(cid, None)
            self._last_seen.pop(cid, None)

    def _dispatch(self, connection_id: str, connection: StreamConnection) -> None:
        for event in connection.drain_events():
            wrapped = ServerEvent(connection_id, connection.connection_tag, event)
            for listener in list(self._listeners):
                listener(wrapped)
            if isinstance(event, MoneyReceived):
                payment = IncomingPayment(
                    connection_id,
                    connection.connection_tag,
                    event.stream_id,
                    event.amount,
                    event.stream_total,
                    event.connection_total,
                    self.asset,
                )
                log.debug(
                    "stream.money.received",
                    connection_tag=connection.connection_tag,
                    amount=event.amount,
                    total=event.connection_total,
                )
                for queue in self._payment_queues:
                    queue.put_nowait(payment)

    # ---- application API ----------------------------------------------------------------

    def on_event(self, listener: Callable[[ServerEvent], None]) -> None:
        """Call `listener` for every connection event (money, data, opens, closes)."""
        self._listeners.append(listener)

    def payments(self) -> AsyncIterator[IncomingPayment]:
        """Every payment from now on, as it arrives; ends when the server closes."""
        queue: asyncio.Queue[IncomingPayment | None] = asyncio.Queue()
        self._payment_queues.append(queue)

        async def feed() -> AsyncIterator[IncomingPayment]:
            try:
                while (item := await queue.get()) is not None:
                    yield item
            finally:
                if queue in self._payment_queues:
                    self._payment_queues.remove(queue)

        return feed()

    def connection(self, connection_id: str) -> StreamConnection:
        found = self.connections.get(connection_id)
        if found is None:
            raise KeyError(f"no STREAM connection {connection_id}")
        return found

    def connection_ids(self, connection_tag: str | None = None) -> list[str]:
        return [
            cid
            for cid, conn in self.connections.items()
            if connection_tag is None or conn.connection_tag == connection_tag
        ]

    def sender(self, connection_id: str) -> StreamClient:
        """A sender over our link for one connection: send data (`send_data`) or money
        (`payment(...)`) back to a client that told us its address."""
        if self.link is None:
            raise StreamStateError("this STREAM server has no link to send with")
        return StreamClient.over(self.link, self.connection(connection_id), clock=self.clock)

    async def close_connection(
        self,
        connection_id: str,
        code: int = StreamErrorCode.NO_ERROR,
        message: str = "",
    ) -> None:
        """Close a connection: later Prepares get ConnectionClose in their F99; if the client
        told us its address and we have a link, tell it now in an unfulfillable Prepare."""
        connection = self.connection(connection_id)
        connection.close(code, message)
        self._dispatch(connection_id, connection)
        if self.link is not None and connection.remote_address is not None:
            out = connection.build_prepare(
                amount=0,
                min_amount=0,
                expires_at=self.clock.now() + timedelta(seconds=PREPARE_EXPIRY_S),
                fulfillable=False,
            )
            reply = await self.link.send(out.prepare)
            connection.handle_reply(out, reply)
            self._dispatch(connection_id, connection)

    async def close(self) -> None:
        """Close every connection and end every `payments()` iterator."""
        open_ids = [cid for cid, conn in self.connections.items() if not conn.closed]
        await asyncio.gather(*(self.close_connection(cid) for cid in open_ids))
        for queue in self._payment_queues:
            queue.put_nowait(None)
