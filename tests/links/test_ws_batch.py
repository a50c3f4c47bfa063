"""Batched WebSocket writes: frames aiohttp itself parses, on real sockets on 127.0.0.1,
and many packets answered in few writes through real BTP links."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from ilpnet.clock import SystemClock
from ilpnet.crypto.condition import condition_of
from ilpnet.links.btp import WRITE_EARLY, BtpAccount, BtpClientLink, BtpServer, _Connection
from ilpnet.links.btp_session import BtpSession, Role, SessionState
from ilpnet.links.ws_batch import BatchWriter, masked
from ilpnet.wire.packet import Fulfill, Prepare, Reject

WAIT = 10.0
PAYLOADS = [b"", b"x", bytes(range(125)), bytes(126), bytes(range(256)) * 300, b"\xff" * 70_000]


def test_masking_matches_rfc_6455_example() -> None:
    # RFC 6455 §5.7: "Hello" with masking key 37 fa 21 3d
    assert masked(bytes.fromhex("37fa213d"), b"Hello") == bytes.fromhex("7f9f4d5158")
    assert masked(b"\x01\x02\x03\x04", b"") == b""


@asynccontextmanager
async def echo_pair() -> AsyncIterator[tuple[aiohttp.ClientWebSocketResponse, list[bytes]]]:
    """A client socket to a server that records each binary message and echoes it back
    through a `BatchWriter` in one write."""
    received: list[bytes] = []

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        batch = BatchWriter.of(ws)
        assert batch is not None
        async for msg in ws:
            assert msg.type is WSMsgType.BINARY
            received.append(msg.data)
            if len(received) == len(PAYLOADS):
                batch.write(received)
        return ws

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}/", max_msg_size=1 << 20) as ws,
        ):
            yield ws, received
    finally:
        await runner.cleanup()


async def test_batched_frames_of_every_length_class_reach_both_ways() -> None:
    async with echo_pair() as (ws, received):
        client_batch = BatchWriter.of(ws)
        assert client_batch is not None
        client_batch.write(PAYLOADS)  # masked client frames: 7-bit, 16-bit, 64-bit lengths
        echoed = []
        for _ in PAYLOADS:
            msg = await asyncio.wait_for(ws.receive(), WAIT)
            assert msg.type is WSMsgType.BINARY
            echoed.append(msg.data)
        assert received == PAYLOADS
        assert echoed == PAYLOADS


async def test_writing_to_a_closed_socket_raises_connection_error() -> None:
    async with echo_pair() as (ws, _):
        batch = BatchWriter.of(ws)
        assert batch is not None
        await ws.close()
        with pytest.raises(ConnectionError):
            batch.write([b"late"])


def test_non_aiohttp_sockets_get_no_batch_writer() -> None:
    assert BatchWriter.of(object()) is None


async def test_many_concurrent_packets_are_each_answered_over_batched_links() -> None:
    fulfillment = bytes(range(32))
    server = BtpServer([BtpAccount("alice", "secret")], address="test.server")
    seen: list[int] = []

    async def handler(prepare: Prepare) -> Fulfill | Reject:
        seen.append(prepare.amount)
        if prepare.amount % 2:
            return Reject("F99", "test.server", f"odd {prepare.amount}", b"")
        return Fulfill(fulfillment, prepare.data)

    server.link("alice").set_handler(handler)
    port = await server.start("127.0.0.1", 0)
    client = BtpClientLink(f"ws://127.0.0.1:{port}", "server", "secret", "alice")
    await client.start()
    try:
        expires = SystemClock().now() + timedelta(seconds=30)
        prepares = [
            Prepare(n, expires, condition_of(fulfillment), "test.server.x", n.to_bytes(4, "big"))
            for n in range(300)
        ]
        answers = await asyncio.wait_for(asyncio.gather(*(client.send(p) for p in prepares)), WAIT)
    finally:
        await client.close()
        await server.close()
    assert sorted(seen) == list(range(300))
    for n, answer in enumerate(answers):
        if n % 2:
            assert isinstance(answer, Reject)
            assert answer.message == f"odd {n}"
        else:
            assert isinstance(answer, Fulfill)
            assert answer.data == n.to_bytes(4, "big")


class _TransportLike:
    """uvloop's transport has the methods of `asyncio.Transport` without subclassing it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0


class _WriterLike:
    def __init__(self, transport: object) -> None:
        self.transport = transport
        self.compress = 0
        self.use_mask = False
        self._closing = False


class _SocketLike:
    def __init__(self, transport: object) -> None:
        self._writer = _WriterLike(transport)


def test_a_transport_that_only_looks_like_asyncio_s_is_batched() -> None:
    transport = _TransportLike()
    batch = BatchWriter.of(_SocketLike(transport))
    assert batch is not None
    batch.write([b"ab", b"c"])
    assert transport.written == [b"\x82\x02ab\x82\x01c"]
    assert BatchWriter.of(_SocketLike(object())) is None


async def test_a_full_batch_goes_out_at_once_the_rest_at_the_next_turn() -> None:
    transport = _TransportLike()
    session = BtpSession(Role.SERVER, SystemClock())
    session.state = SessionState.OPEN
    conn = _Connection(_SocketLike(transport), session)  # type: ignore[arg-type]
    fulfill = Fulfill(bytes(32))
    for rid in range(WRITE_EARLY + 5):
        session.respond_ilp(rid, fulfill)
        assert conn.flush_soon()
        # nothing leaves before WRITE_EARLY frames wait; then they leave in one write
        assert len(transport.written) == (0 if rid < WRITE_EARLY - 1 else 1)
    assert transport.written[0].count(b"\x82") >= WRITE_EARLY
    await asyncio.sleep(0)  # the next turn: the other five, in one more write
    assert len(transport.written) == 2
    assert not session.has_data_to_send
