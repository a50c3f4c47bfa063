"""SIGKILL the middle connector of A–B–C while many packets are in flight, restart it on the
same store (SQLite, or a real Redis with an append-only file), and check the books: every
packet B held ends rolled back, none is paid twice, and each pair of neighbours agrees.

The kill is placed where ILP can keep the books exact: every Fulfill the receiver gave has
reached the sender, and the packets in flight are Prepares (held by the receiver, or on
their way). A Fulfill still on the wire when its connector dies is the one case no
bilateral protocol settles without a reconciliation step: a second test kills B at an
arbitrary moment and checks that the books differ by exactly those lost answers. A third
stops B with SIGTERM: it rolls back what it has in flight before it exits.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.node.connectors import Line, running_line
from tests.redis_server import RedisServer, start_redis

AMOUNT = 10  # 0.10 USD per packet
CONCURRENCY = 16
EXPIRY_S = 6.0  # the receiver sees 3 s; B's outgoing expiry is 4 s after sending
EUR_PER_PACKET = 89_820  # A: 0.10 USD at a fixed 0.9 EUR per USD, less its 0.2 % spread
OVERRIDES: dict[str, dict[str, Any]] = {
    "a": {"fixed_rates": {"USD/EUR": "0.9"}},
    "c.b": {"maximum": 10**12},
}


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis", appendonly=True)
    try:
        yield server
    finally:
        server.process.terminate()
        server.process.wait(10)


async def until(predicate: Callable[[], Awaitable[bool]], what: str, seconds: float) -> None:
    """Poll `predicate` (a cheap check or an admin call) until true, at most `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"not within {seconds}s: {what}")
        await asyncio.sleep(0.02)


class Stream:
    """Senders that keep CONCURRENCY packets in flight until told to stop."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.answers: dict[bytes, Fulfill | Reject] = {}
        self.stopped = False
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.ensure_future(self._worker()) for _ in range(CONCURRENCY)]

    async def _worker(self) -> None:
        while not self.stopped:
            condition = self.line.receiver.expect(os.urandom(32))
            expires = datetime.now(UTC) + timedelta(seconds=EXPIRY_S)
            prepare = Prepare(AMOUNT, expires, condition, "test.c.receiver")
            self.answers[condition] = await self.line.sender.send(prepare)

    async def stop(self) -> None:
        self.stopped = True
        await asyncio.wait_for(asyncio.gather(*self.tasks), EXPIRY_S + 5)

    def fulfilled(self) -> set[bytes]:
        return {c for c, a in self.answers.items() if isinstance(a, Fulfill)}


def stores_with(tmp_path: Path, b_store: str) -> dict[str, str]:
    return {"a": f"sqlite:///{tmp_path}/a.db", "b": b_store, "c": f"sqlite:///{tmp_path}/c.db"}


async def restart(line: Line) -> None:
    """Start B again on its config (so on its store) and wait until every link is back."""
    await line.b.start()
    await line.b.wait_healthy(links=("a", "c"))
    await line.a.wait_healthy(links=("b",))


async def nothing_in_flight(line: Line) -> None:
    async def ended() -> bool:
        counts = await asyncio.gather(*(n.in_flight() for n in line.nodes))
        return counts == [0, 0, 0]

    await until(ended, "every in-flight packet ended", EXPIRY_S + 10)


async def crash_and_restart_middle(tmp_path: Path, b_store: str, *, graceful: bool = False) -> None:
    async with running_line(tmp_path, stores_with(tmp_path, b_store), OVERRIDES) as line:
        receiver = line.receiver
        held: list[tuple[Prepare, asyncio.Future[Fulfill | Reject]]] = []
        holding = False

        async def answer(prepare: Prepare) -> Fulfill | Reject:
            if not holding:
                return receiver.fulfil(prepare)
            decided: asyncio.Future[Fulfill | Reject] = asyncio.get_running_loop().create_future()
            held.append((prepare, decided))
            return await decided

        receiver.answer = answer
        stream = Stream(line)
        stream.start()

        async def fulfilled_enough() -> bool:
            return len(receiver.fulfilled) >= 150

        await until(fulfilled_enough, "150 packets fulfilled", 30)
        holding = True  # from now on the receiver holds every Prepare: they stay in flight

        async def held_and_answered() -> bool:
            delivered = {p.execution_condition for p in receiver.fulfilled}
            return len(held) >= 10 and delivered <= stream.fulfilled()

        await until(held_and_answered, "10 packets held, every Fulfill back at the sender", 15)
        b_in_flight = await line.b.in_flight()
        assert b_in_flight >= 10

        if graceful:  # SIGTERM: B closes its links, rolling back all it has in flight
            assert line.b.process is not None
            line.b.process.terminate()
            assert await line.b.wait_exit() == 0
        else:
            line.b.kill()
            assert await line.b.wait_exit() == -9
        await stream.stop()  # A answers T01 for everything it had sent to B
        held_conditions = {p.execution_condition for p, _ in held}
        assert all(isinstance(stream.answers[c], Reject) for c in held_conditions)
        # The receiver refuses half of what it held (C rolls back, its answer to B is lost)
        # and never answers the rest (C expires them at its outgoing expiry).
        for _, decided in held[::2]:
            decided.set_result(Reject("F99", "test.c.receiver", "changed my mind"))

        await restart(line)
        if graceful:
            assert await line.b.in_flight() == 0  # nothing was left for recovery
        await nothing_in_flight(line)
        for _, decided in held[1::2]:
            decided.set_result(Reject("F99", "test.c.receiver", "too late anyway"))

        holding = False  # the restarted B carries payments again
        after = Stream(line)
        after.start()

        async def carried_again() -> bool:
            return len(after.fulfilled()) >= 40

        await until(carried_again, "40 payments after the restart", 15)
        await after.stop()
        assert all(isinstance(a, Fulfill) for a in after.answers.values())

        # -- the books ------------------------------------------------------------------
        a, b, c = await asyncio.gather(*(n.books() for n in line.nodes))
        for node in (a, b, c):
            assert all((p_in, p_out) == (0, 0) for _, p_in, p_out in node.values()), node
        sent_ok = stream.fulfilled() | after.fulfilled()
        paid = [p.execution_condition for p in receiver.fulfilled]
        assert len(paid) == len(set(paid)), "a packet was fulfilled twice"
        assert set(paid) == sent_ok, "the sender's and the receiver's views differ"
        assert held_conditions.isdisjoint(paid)
        assert a["sender"][0] == AMOUNT * len(sent_ok)  # what the sender owes A
        assert a["b"][0] == -EUR_PER_PACKET * len(sent_ok)
        assert a["b"][0] == -b["a"][0]  # A and B agree
        assert b["c"][0] == -c["b"][0]  # B and C agree
        assert b["a"][0] == -b["c"][0]  # B passed on exactly what it got (spread 0)
        assert c["receiver"][0] == -sum(p.amount for p in receiver.fulfilled)


async def crash_while_fulfills_flow(tmp_path: Path, b_store: str) -> None:
    """Kill B at an arbitrary moment of a stream the receiver fulfils at once. Fulfills on
    the wire die with B: the receiver and C count them, A and the sender never see them,
    and B's store has them only if it committed before dying. Every other figure agrees."""
    async with running_line(tmp_path, stores_with(tmp_path, b_store), OVERRIDES) as line:
        receiver = line.receiver
        stream = Stream(line)
        stream.start()

        async def fulfilled_enough() -> bool:
            return len(receiver.fulfilled) >= 150

        await until(fulfilled_enough, "150 packets fulfilled", 30)
        line.b.kill()
        assert await line.b.wait_exit() == -9
        await stream.stop()
        await restart(line)
        await nothing_in_flight(line)
        after = Stream(line)
        after.start()

        async def carried_again() -> bool:
            return len(after.fulfilled()) >= 40

        await until(carried_again, "40 payments after the restart", 15)
        await after.stop()

        a, b, c = await asyncio.gather(*(n.books() for n in line.nodes))
        for node in (a, b, c):
            assert all((p_in, p_out) == (0, 0) for _, p_in, p_out in node.values()), node
        sent_ok = stream.fulfilled() | after.fulfilled()
        paid = [p.execution_condition for p in receiver.fulfilled]
        assert len(paid) == len(set(paid)), "a packet was fulfilled twice"
        assert sent_ok <= set(paid)
        lost = len(paid) - len(sent_ok)  # fulfilled downstream, answer lost with B
        assert lost <= CONCURRENCY
        assert a["sender"][0] == AMOUNT * len(sent_ok)
        assert a["b"][0] == -EUR_PER_PACKET * len(sent_ok)  # A: what the sender got
        assert c["b"][0] == EUR_PER_PACKET * len(paid)  # C: what the receiver got
        assert c["receiver"][0] == -sum(p.amount for p in receiver.fulfilled)
        assert b["a"][0] == -b["c"][0]  # B committed both sides of each packet, or neither
        committed, rest = divmod(b["a"][0], EUR_PER_PACKET)
        assert rest == 0
        assert len(sent_ok) <= committed <= len(paid)
        # What A and C disagree with B about is exactly the lost answers, once each.
        disagreement = (a["b"][0] + b["a"][0]) + (b["c"][0] + c["b"][0])
        assert disagreement == EUR_PER_PACKET * lost


async def test_crash_of_the_middle_connector_with_sqlite(tmp_path: Path) -> None:
    await crash_and_restart_middle(tmp_path, f"sqlite:///{tmp_path}/b.db")


async def test_crash_of_the_middle_connector_with_redis(
    tmp_path: Path, redis_aof: RedisServer
) -> None:
    await crash_and_restart_middle(tmp_path, f"{redis_aof.url}?prefix=crash-b")


async def test_crash_while_fulfills_flow_accounts_for_every_lost_answer(tmp_path: Path) -> None:
    await crash_while_fulfills_flow(tmp_path, f"sqlite:///{tmp_path}/b.db")


async def test_crash_while_fulfills_flow_with_redis(tmp_path: Path, redis_aof: RedisServer) -> None:
    await crash_while_fulfills_flow(tmp_path, f"{redis_aof.url}?prefix=crash-b")


async def test_sigterm_of_the_middle_connector_rolls_back_before_exit(tmp_path: Path) -> None:
    await crash_and_restart_middle(tmp_path, f"sqlite:///{tmp_path}/b.db", graceful=True)
