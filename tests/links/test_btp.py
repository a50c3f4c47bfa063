"""BTP links over real aiohttp WebSockets on 127.0.0.1: auth, concurrency, reconnects,
timeouts and malformed frames."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from ilpnet.clock import Clock, ManualClock, SystemClock
from ilpnet.links.base import Link
from ilpnet.links.btp import (
    BtpAccount,
    BtpAuthError,
    BtpClientLink,
    BtpRequestError,
    BtpServer,
)
from ilpnet.wire.btp import (
    ContentType,
    Error,
    Message,
    ProtocolData,
    Response,
    auth_message,
    decode_btp,
    ilp_message,
)
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject

WAIT = 10.0  # bound for every await on the network


def preimage(n: int) -> bytes:
    return hashlib.sha256(b"preimage %d" % n).digest()


def prepare(clock: Clock, n: int = 0, amount: int = 10, expiry_s: float = 30) -> Prepare:
    return Prepare(
        amount,
        clock.now() + timedelta(seconds=expiry_s),
        hashlib.sha256(preimage(n)).digest(),
        "test.bob.receiver",
        n.to_bytes(4, "big"),
    )


async def fulfil(p: Prepare) -> Fulfill | Reject:
    """Fulfils any prepare made by `prepare()`, echoing its number."""
    return Fulfill(preimage(int.from_bytes(p.data, "big")), p.data)


def is_answer_to(reply: Fulfill | Reject, p: Prepare) -> bool:
    return (
        isinstance(reply, Fulfill)
        and hashlib.sha256(reply.fulfillment).digest() == p.execution_condition
        and reply.data == p.data
    )


ACCOUNTS = [
    BtpAccount("alice", token="alice-token"),
    BtpAccount("bob", token="bob-token", username="bobby"),
]


@asynccontextmanager
async def btp_server(clock: Clock | None = None, **kw: float) -> AsyncIterator[BtpServer]:
    server = BtpServer(ACCOUNTS, clock=clock or SystemClock(), address="test.parent", **kw)
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


def url_of(server: BtpServer) -> str:
    return f"ws://127.0.0.1:{server.port}/"


@asynccontextmanager
async def btp_client(
    url: str, account_id: str = "parent", **kw: object
) -> AsyncIterator[BtpClientLink]:
    kw.setdefault("token", "alice-token")
    kw.setdefault("backoff_initial", 0.02)
    client = BtpClientLink(url, account_id, address="test.child", **kw)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(client.start(), WAIT)
        yield client
    finally:
        await client.close()


# ---- auth ------------------------------------------------------------------------------


async def test_client_authenticates_and_both_sides_see_the_link() -> None:
    async with btp_server() as server, btp_client(url_of(server), username="alice") as client:
        alice: Link = server.link("alice")  # both ends are Links to the connector
        parent: Link = client
        assert (alice.account_id, parent.account_id) == ("alice", "parent")
        alice = server.link("alice")
        await asyncio.wait_for(alice.wait_connected(), WAIT)
        assert client.connected
        assert alice.connected
        assert not server.link("bob").connected
        assert client.connects == 1


@pytest.mark.parametrize(
    ("username", "token"),
    [
        pytest.param("", "alice-token", id="token-only"),
        pytest.param("bobby", "bob-token", id="configured-username"),
        pytest.param("", "bob-token", id="token-only-bob"),
    ],
)
async def test_accounts_are_found_by_username_or_token(username: str, token: str) -> None:
    async with (
        btp_server() as server,
        btp_client(url_of(server), username=username, token=token) as client,
    ):
        expected = "alice" if token == "alice-token" else "bob"
        await asyncio.wait_for(server.link(expected).wait_connected(), WAIT)
        assert client.connected


@pytest.mark.parametrize(
    ("username", "token"),
    [
        pytest.param("alice", "wrong", id="bad-token"),
        pytest.param("", "wrong", id="unknown-token"),
        pytest.param("bob", "bob-token", id="account-id-is-not-bobs-username"),
        pytest.param("mallory", "alice-token", id="unknown-user"),
    ],
)
async def test_bad_credentials_are_refused_and_start_raises(username: str, token: str) -> None:
    async with btp_server() as server:
        client = BtpClientLink(url_of(server), "parent", token=token, username=username)
        with pytest.raises(BtpAuthError, match="F00 NotAcceptedError: invalid auth_token"):
            await asyncio.wait_for(client.start(), WAIT)
        assert not client.connected
        assert not any(link.connected for link in server.links.values())
        await client.close()


async def test_btp_url_with_credentials_and_a_mounted_path() -> None:
    server = BtpServer(ACCOUNTS, address="test.parent")
    app = web.Application()
    server.mount(app, "/btp")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"btp+ws://alice:alice-token@127.0.0.1:{port}/btp"
        client = BtpClientLink(url, "parent")
        assert client.url == f"ws://127.0.0.1:{port}/btp"
        await asyncio.wait_for(client.start(), WAIT)
        await asyncio.wait_for(server.link("alice").wait_connected(), WAIT)
        await client.close()
    finally:
        await server.close()
        await runner.cleanup()


async def test_a_socket_closed_during_auth_is_retried_not_fatal() -> None:
    server = BtpServer(ACCOUNTS)
    attempts = 0

    async def flaky(request: web.Request) -> web.StreamResponse:
        nonlocal attempts
        attempts += 1
        if attempts == 1:  # accept the upgrade, read the auth, hang up without answering
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.receive()
            await ws.close()
            return ws
        return await server.handle(request)

    app = web.Application()
    app.router.add_get("/", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with btp_client(url) as client:
            assert attempts == 2
            assert client.connects == 1
    finally:
        await server.close()
        await runner.cleanup()


async def test_start_gives_up_when_nobody_listens() -> None:
    async with btp_server() as server:
        url = url_of(server)
    client = BtpClientLink(url, "parent", token="t", backoff_initial=0.01, start_timeout=0.3)
    with pytest.raises(ConnectionError, match="could not connect"):
        await asyncio.wait_for(client.start(), WAIT)


# ---- ILP packets -------------------------------------------------------------------------


async def test_200_concurrent_prepares_each_way_on_one_socket() -> None:
    clock = SystemClock()
    async with btp_server() as server, btp_client(url_of(server)) as client:
        alice = server.link("alice")
        alice.set_handler(fulfil)
        client.set_handler(fulfil)
        await asyncio.wait_for(alice.wait_connected(), WAIT)
        ups = [prepare(clock, n) for n in range(200)]
        downs = [prepare(clock, n) for n in range(1000, 1200)]
        replies = await asyncio.wait_for(
            asyncio.gather(*(client.send(p) for p in ups), *(alice.send(p) for p in downs)),
            WAIT,
        )
        for p, reply in zip(ups + downs, replies, strict=True):
            assert is_answer_to(reply, p), (p, reply)
        # each answering task left the link's task set itself (no done callbacks)
        assert not alice._tasks
        assert not client._tasks


async def test_rejects_and_handler_errors_come_back_as_ilp_rejects() -> None:
    clock = SystemClock()

    async def handler(p: Prepare) -> Fulfill | Reject:
        n = int.from_bytes(p.data, "big")
        if n == 1:
            return Reject("F99", "test.parent.app", "app says no", b"why")
        if n == 2:
            raise IlpError(ErrorCode.F02_UNREACHABLE, "no route to test.bob")
        if n == 3:
            raise IlpError(ErrorCode.F99_APPLICATION_ERROR, "é" * 9000, b"x" * 40000)
        if n == 4:
            return None  # type: ignore[return-value]  # a buggy handler
        raise RuntimeError("bug")

    async with btp_server() as server, btp_client(url_of(server)) as client:
        server.link("alice").set_handler(handler)
        relayed = await client.send(prepare(clock, 1))
        assert relayed == Reject("F99", "test.parent.app", "app says no", b"why")
        refused = await client.send(prepare(clock, 2))
        assert refused == Reject("F02", "test.parent", "no route to test.bob", b"")
        huge = await client.send(prepare(clock, 3))  # cut to what a Reject can carry
        assert isinstance(huge, Reject)
        assert (huge.code, huge.data) == ("F99", b"")
        assert len(huge.message.encode()) <= 8191
        for n in (4, 5):
            crashed = await client.send(prepare(clock, n))
            assert isinstance(crashed, Reject)
            assert (crashed.code, crashed.triggered_by) == ("T00", "test.parent")


async def test_no_handler_is_a_btp_error_that_becomes_t01() -> None:
    clock = SystemClock()
    async with btp_server() as server, btp_client(url_of(server)) as client:
        reply = await client.send(prepare(clock))
        assert isinstance(reply, Reject)
        assert (reply.code, reply.triggered_by) == ("T01", "test.child")
        assert "T00 UnreachableError" in reply.message


def test_link_address_must_be_an_ilp_address() -> None:
    link = BtpClientLink("ws://127.0.0.1:9/", "parent", token="t")
    assert link.address == ""
    link.address = "test.parent.child"
    assert link.address == "test.parent.child"
    with pytest.raises(ValueError, match="invalid ILP address"):
        link.address = "not an address"


async def test_t01_when_the_peer_is_not_connected() -> None:
    clock = SystemClock()
    async with btp_server() as server:
        reply = await server.link("bob").send(prepare(clock))
        assert reply == Reject("T01", "test.parent", "peer is not connected", b"")
        async with btp_client(url_of(server)) as client:
            pass
        reply = await client.send(prepare(clock))
        assert isinstance(reply, Reject)
        assert (reply.code, reply.triggered_by) == ("T01", "test.child")


async def test_r00_when_no_answer_comes_before_expiry() -> None:
    clock = ManualClock(datetime.now(UTC))
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def slow(p: Prepare) -> Fulfill | Reject:
        arrived.set()
        await release.wait()
        return await fulfil(p)

    async with btp_server(clock) as server, btp_client(url_of(server), clock=clock) as client:
        server.link("alice").set_handler(slow)
        p = prepare(clock, expiry_s=30)
        sending = asyncio.ensure_future(client.send(p))
        await asyncio.wait_for(arrived.wait(), WAIT)
        clock.advance(29.9)
        await asyncio.sleep(0)
        assert not sending.done()
        clock.advance(0.2)
        reply = await asyncio.wait_for(sending, WAIT)
        assert isinstance(reply, Reject)
        assert (reply.code, reply.triggered_by) == ("R00", "test.child")
        # the late fulfill is dropped; the link keeps working
        release.set()
        assert is_answer_to(await client.send(prepare(clock, 5)), prepare(clock, 5))
        expired = await client.send(prepare(clock, 6, expiry_s=-1))
        assert isinstance(expired, Reject)
        assert expired.code == "R00"


async def test_close_ends_in_flight_sends_with_a_reject() -> None:
    clock = SystemClock()
    arrived = asyncio.Event()

    async def never(p: Prepare) -> Fulfill | Reject:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError

    async with btp_server() as server:
        server.link("alice").set_handler(never)
        client = BtpClientLink(url_of(server), "parent", token="alice-token")
        await asyncio.wait_for(client.start(), WAIT)
        sending = asyncio.ensure_future(client.send(prepare(clock)))
        await asyncio.wait_for(arrived.wait(), WAIT)
        await client.close()
        reply = await asyncio.wait_for(sending, WAIT)
        assert isinstance(reply, Reject)
        assert reply.code == "T01"


# ---- reconnects ------------------------------------------------------------------------


async def test_client_reconnects_after_the_server_drops_the_socket() -> None:
    clock = SystemClock()
    async with btp_server() as server, btp_client(url_of(server)) as client:
        alice = server.link("alice")
        alice.set_handler(fulfil)
        await asyncio.wait_for(alice.wait_connected(), WAIT)
        for round_ in range(2):
            await alice.disconnect("test drops the socket")
            assert not alice.connected
            await asyncio.wait_for(alice.wait_connected(), WAIT)
            # the client dials only after it saw the old socket die, so this is the new one
            await asyncio.wait_for(client.wait_connected(), WAIT)
            assert is_answer_to(await client.send(prepare(clock, round_)), prepare(clock, round_))
        assert client.connects == 3
        assert alice is server.link("alice")


class RecordingClock(ManualClock):
    """A ManualClock that tells the test each time someone starts sleeping."""

    def __init__(self) -> None:
        super().__init__(datetime.now(UTC))
        self.sleeps: asyncio.Queue[float] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.put_nowait(seconds)
        await super().sleep(seconds)


async def test_reconnect_backs_off_exponentially_on_the_clock() -> None:
    clock = RecordingClock()
    server = BtpServer(ACCOUNTS, clock=SystemClock())
    port = await server.start("127.0.0.1", 0)
    client = BtpClientLink(
        f"ws://127.0.0.1:{port}/",
        "parent",
        token="alice-token",
        clock=clock,
        backoff_initial=1.0,
        backoff_max=4.0,
        start_timeout=60,
        auth_timeout=7,
    )
    try:
        starting = asyncio.ensure_future(client.start())
        # start() waits on the clock for its own deadline, then for the auth answer
        assert await asyncio.wait_for(clock.sleeps.get(), WAIT) == 60
        assert await asyncio.wait_for(clock.sleeps.get(), WAIT) == 7
        await asyncio.wait_for(starting, WAIT)
        await server.close()  # the server goes away; the client starts backing off
        delays = []
        for _ in range(5):
            delays.append(await asyncio.wait_for(clock.sleeps.get(), WAIT))
            clock.advance(delays[-1])
        assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
        # a server appears on the same port; after the next delay the client is back
        server = BtpServer(ACCOUNTS, clock=SystemClock())
        await server.start("127.0.0.1", port)
        clock.advance(4.0)
        await asyncio.wait_for(server.link("alice").wait_connected(), WAIT)
        await asyncio.wait_for(client.wait_connected(), WAIT)
        assert client.connects == 2
    finally:
        await client.close()
        await server.close()


async def test_a_new_connection_for_an_account_replaces_the_old_one() -> None:
    clock = SystemClock()
    async with (
        btp_server() as server,
        btp_client(url_of(server), backoff_initial=30.0),
        aiohttp.ClientSession() as http,
        http.ws_connect(url_of(server)) as ws,
    ):
        alice = server.link("alice")
        await ws.send_bytes(auth_message(1, "alice-token").encode())
        answer = decode_btp((await ws.receive(timeout=WAIT)).data)
        assert answer == Response(1)
        # once the server has served a request on the new socket, it carries the account
        await ws.send_bytes(ilp_message(2, prepare(clock, 1).encode()).encode())
        no_handler = decode_btp((await ws.receive(timeout=WAIT)).data)
        assert isinstance(no_handler, Error)
        assert no_handler.request_id == 2
        sent = asyncio.ensure_future(alice.send(prepare(clock, 7)))
        request = decode_btp((await ws.receive(timeout=WAIT)).data)
        reply = Fulfill(preimage(7), b"raw")
        await ws.send_bytes(
            Response(request.request_id, (ProtocolData.octets("ilp", reply.encode()),)).encode()
        )
        assert await asyncio.wait_for(sent, WAIT) == reply


# ---- malformed frames and auth rules, with a raw WebSocket -------------------------------


async def test_malformed_frames_get_btp_errors_and_the_socket_lives_on() -> None:
    clock = SystemClock()
    async with (
        btp_server() as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(url_of(server)) as ws,
    ):
        server.link("alice").set_handler(fulfil)
        await ws.send_bytes(auth_message(1, "alice-token", "alice").encode())
        assert decode_btp((await ws.receive(timeout=WAIT)).data) == Response(1)
        bad = [
            bytes.fromhex("0600000011050102"),  # truncated Message
            bytes.fromhex("0900000012020100"),  # unknown type
            ilp_message(0x13, b"\x0c\x05abc").encode(),  # garbled ILP Prepare
        ]
        for frame in bad:
            await ws.send_bytes(frame)
            error = decode_btp((await ws.receive(timeout=WAIT)).data)
            assert isinstance(error, Error)
            assert (error.code, error.name) == ("F01", "InvalidFieldsError")
            assert error.request_id == int.from_bytes(frame[1:5], "big")
        # responses nobody asked for, text frames and stubs get no answer at all
        await ws.send_bytes(Response(999).encode())
        await ws.send_bytes(b"\x01\x00")
        await ws.send_str("hello")
        p = prepare(clock, 4)
        await ws.send_bytes(ilp_message(0x14, p.encode()).encode())
        answer = decode_btp((await ws.receive(timeout=WAIT)).data)
        assert isinstance(answer, Response)
        assert answer.request_id == 0x14
        assert is_answer_to(Fulfill.decode(answer.protocol_data[0].data), p)
        # a side protocol nobody serves: F00
        await ws.send_bytes(Message(0x15, (ProtocolData.text("note", "hi"),)).encode())
        error = decode_btp((await ws.receive(timeout=WAIT)).data)
        assert isinstance(error, Error)
        assert (error.request_id, error.code) == (0x15, "F00")


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(ilp_message(5, b"\x0c").encode(), id="ilp-before-auth"),
        pytest.param(bytes.fromhex("0600000005ff"), id="garbage"),
    ],
)
async def test_a_first_packet_that_is_not_auth_gets_f00_and_a_close(first: bytes) -> None:
    async with (
        btp_server() as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(url_of(server)) as ws,
    ):
        await ws.send_bytes(first)
        error = decode_btp((await ws.receive(timeout=WAIT)).data)
        assert isinstance(error, Error)
        assert (error.request_id, error.code, error.name) == (5, "F00", "NotAcceptedError")
        closing = await ws.receive(timeout=WAIT)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_a_text_frame_instead_of_auth_closes_the_socket() -> None:
    async with (
        btp_server() as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(url_of(server)) as ws,
    ):
        await ws.send_str("auth please")
        closing = await ws.receive(timeout=WAIT)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_a_silent_client_is_dropped_after_the_auth_timeout() -> None:
    clock = RecordingClock()
    async with (
        btp_server(clock, auth_timeout=10.0) as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(url_of(server)) as ws,
    ):
        assert await asyncio.wait_for(clock.sleeps.get(), WAIT) == 10.0
        clock.advance(10.0)
        closing = await ws.receive(timeout=WAIT)
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


# ---- transfers ---------------------------------------------------------------------------


async def test_transfers_are_credited_refused_or_unhandled() -> None:
    got: list[tuple[int, tuple[ProtocolData, ...]]] = []

    async def credit(amount: int, data: tuple[ProtocolData, ...]) -> None:
        if amount > 1000:
            raise IlpError(ErrorCode.F00_BAD_REQUEST, "claim too large")
        got.append((amount, data))

    claim = (ProtocolData("claim", ContentType.JSON, b'{"amount":"500"}'),)
    async with btp_server() as server, btp_client(url_of(server)) as client:
        with pytest.raises(BtpRequestError, match="transfers are not accepted"):
            await client.send_transfer(1)
        server.link("alice").set_transfer_handler(credit)
        assert await client.send_transfer(500, claim) == ()
        assert got == [(500, claim)]
        with pytest.raises(BtpRequestError, match="claim too large") as refused:
            await client.send_transfer(5000)
        assert refused.value.code is ErrorCode.F00_BAD_REQUEST
        # and the other way round
        client.set_transfer_handler(credit)
        await server.link("alice").send_transfer(7)
        assert got[-1] == (7, ())
    with pytest.raises(BtpRequestError) as unreachable:
        await server.link("alice").send_transfer(7)
    assert unreachable.value.code is ErrorCode.T01_PEER_UNREACHABLE
