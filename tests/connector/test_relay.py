"""Two workers of one connector share one real Redis: a packet entering on one worker and
leaving on the other's link completes, with one set of books."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.relay import WorkerRelay
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import RedisStore
from ilpnet.links.base import IncomingHandler
from ilpnet.links.memory import MemoryLink, memory_link_pair
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT, account


@dataclass
class Workers:
    clock: SystemClock
    one: Connector
    two: Connector
    alice: MemoryLink  # alice's end; her account's link is owned by worker one
    bob: MemoryLink  # bob's end; worker two owns his account's link
    store: RedisStore


@asynccontextmanager
async def two_workers(redis_url: str) -> AsyncIterator[Workers]:
    clock = SystemClock()
    prefix = uuid.uuid4().hex
    accounts = [
        account("alice", Relation.CHILD, "USD", 2, maximum=14_000),
        account("bob", Relation.CHILD, "USD", 2),
    ]
    async with AsyncExitStack() as stack:
        nodes = []
        ends = []
        for worker, owned, other, remote in (
            ("one", "alice", "two", "bob"),
            ("two", "bob", "one", "alice"),
        ):
            store = await RedisStore.connect(redis_url, prefix)
            stack.push_async_callback(store.close)
            relay = WorkerRelay(redis_url, worker, clock, prefix=prefix, address="test.c")
            end, local = memory_link_pair("c", owned, clock)
            node = Connector(
                "test.c",
                accounts,
                store,
                clock,
                links=[local, relay.link(remote, owner=other)],
                routes=[Route("test.alice", "alice"), Route("test.bob", "bob")],
            )
            relay.serve(local)
            await relay.start()
            stack.push_async_callback(relay.close)
            await node.start()
            stack.push_async_callback(node.close)
            nodes.append((node, store))
            ends.append(end)
        yield Workers(clock, nodes[0][0], nodes[1][0], ends[0], ends[1], nodes[0][1])


async def test_packets_cross_workers_both_ways(redis_url: str) -> None:
    async with two_workers(redis_url) as w:
        got: list[tuple[str, Prepare]] = []

        def fulfil_as(name: str) -> IncomingHandler:
            async def handler(prepare: Prepare) -> Fulfill | Reject:
                got.append((name, prepare))
                return Fulfill(FULFILLMENT)

            return handler

        w.alice.set_handler(fulfil_as("alice"))
        w.bob.set_handler(fulfil_as("bob"))
        expires = w.clock.now() + timedelta(seconds=10)
        to_bob = Prepare(700, expires, CONDITION, "test.bob.x")
        answers = await asyncio.gather(*(w.alice.send(to_bob) for _ in range(20)))
        assert answers == [Fulfill(FULFILLMENT)] * 20
        assert await w.bob.send(Prepare(300, expires, CONDITION, "test.alice.y")) == Fulfill(
            FULFILLMENT
        )
        assert [n for n, _ in got].count("bob") == 20
        # One set of books, whichever worker looks.
        for node in (w.one, w.two):
            assert (await node.store.get_balance("alice")).balance == 20 * 700 - 300
            assert (await node.store.get_balance("bob")).balance == 300 - 20 * 700
        assert await w.store.pending_packets() == []
        # Limits hold across workers: alice's maximum is 14 000 (she is at 13 700).
        over = await w.alice.send(Prepare(301, expires, CONDITION, "test.bob.x"))
        assert isinstance(over, Reject)
        assert (over.code, over.triggered_by) == ("T04", "test.c")


async def test_silent_far_side_times_out_on_the_entering_worker(redis_url: str) -> None:
    async with two_workers(redis_url) as w:
        arrived = asyncio.Event()

        async def hang(prepare: Prepare) -> Fulfill | Reject:
            arrived.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        w.bob.set_handler(hang)
        prepare = Prepare(100, w.clock.now() + timedelta(seconds=2.2), CONDITION, "test.bob")
        answer = await asyncio.wait_for(w.alice.send(prepare), 10)
        assert arrived.is_set()
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("R00", "test.c")
        assert (await w.store.get_balance("alice")).balance == 0
        assert (await w.store.get_balance("bob")).pending_out == 0
