"""Two workers on one backend (two SQLite connections in two threads, two Redis clients)
never race past a limit and end each packet once."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.store import InFlight, PacketState, Store, open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


_ids = itertools.count()


async def reserve_many(store: Store, amounts: list[int]) -> int:
    got = 0
    worker = uuid.uuid4().hex  # hold ids are unique across workers, as packet ids are
    for amount in amounts:
        try:
            await store.reserve_incoming(f"{worker}-{next(_ids)}", "alice", amount, 10_000, T0)
        except InsufficientLiquidityError:
            continue
        got += amount
    return got


def test_sqlite_two_connections_in_two_threads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        async def run() -> int:
            store = await open_store(url)
            try:
                return await reserve_many(store, [37, 41, 43] * 100)
            finally:
                await store.close()

        try:
            results.append(asyncio.run(run()))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    asyncio.run(_create(url))
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []

    async def check() -> None:
        store = await open_store(url)
        balance = await store.get_balance("alice")
        await store.close()
        assert balance.balance == sum(results) <= 10_000
        assert balance.balance > 10_000 - 43

    asyncio.run(check())


async def _create(url: str) -> None:
    store = await open_store(url)
    await store.close()


async def test_redis_two_clients(redis_url: str) -> None:
    url = f"{redis_url}?prefix={uuid.uuid4().hex}"
    one, two = await open_store(url), await open_store(url)
    try:
        got = await asyncio.gather(
            *(reserve_many(s, [37, 41, 43] * 20) for s in (one, two) for _ in range(5))
        )
        balance = await one.get_balance("alice")
        assert balance.balance == sum(got) <= 10_000
        assert balance.balance > 10_000 - 43
        # A packet begun by one worker is ended by exactly one of them.
        await one.begin_packet(InFlight("p", "alice", 0, "bob", 5, bytes(32), T0, T0), None)
        won = await asyncio.gather(
            *(s.finish_packet("p", PacketState.EXPIRED) for s in (one, two) for _ in range(10))
        )
        assert won.count(True) == 1
        assert (await two.get_balance("bob")).pending_out == 0
    finally:
        await one.close()
        await two.close()
