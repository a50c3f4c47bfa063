"""Redis specifics: pipelined calls each get their own answer; scripts survive a SCRIPT FLUSH."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime

import redis.asyncio as aioredis

from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.store import RedisStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_ids = itertools.count()


async def reserve(store: RedisStore, account: str, amount: int, maximum: int | None) -> int:
    return await store.reserve_incoming(f"h{next(_ids)}", account, amount, maximum, T0)


async def test_scripts_reload_after_flush(redis_url: str) -> None:
    store = await RedisStore.connect(redis_url, uuid.uuid4().hex)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        await reserve(store, "a", 5, None)
        await admin.script_flush()
        assert await reserve(store, "a", 5, None) == 10  # alone
        await admin.script_flush()
        got = await asyncio.gather(*(reserve(store, "a", 1, None) for _ in range(50)))
        assert sorted(got) == list(range(11, 61))  # batched, in order
    finally:
        await admin.aclose()
        await store.close()


async def test_each_call_of_a_batch_gets_its_own_answer(redis_url: str) -> None:
    store = await RedisStore.connect(redis_url, uuid.uuid4().hex)
    try:
        results = await asyncio.gather(
            *(reserve(store, "a", 10, 55) for _ in range(40)), return_exceptions=True
        )
        # Concurrent callers are served in no promised order, but each exactly once.
        assert sorted(r for r in results if isinstance(r, int)) == [10, 20, 30, 40, 50]
        refused = [r for r in results if not isinstance(r, int)]
        assert len(refused) == 35
        assert all(isinstance(r, InsufficientLiquidityError) for r in refused)
    finally:
        await store.close()


async def test_after_flush_only_the_lost_calls_run_again(redis_url: str) -> None:
    """A batch where some scripts are still loaded and others not: each call runs once."""
    store = await RedisStore.connect(redis_url, uuid.uuid4().hex)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        await admin.script_flush()
        await admin.script_load(store._reserve.text)  # reserve survives, ending holds not
        for i in range(5):
            await store.reserve_incoming(f"b{i}", "b", 1, None, T0)
        await admin.script_flush()
        await admin.script_load(store._reserve.text)
        await asyncio.gather(
            *(reserve(store, "a", 10, None) for _ in range(5)),
            *(store.release_incoming(f"b{i}") for i in range(5)),
        )
        assert (await store.get_balance("a")).balance == 50
        assert (await store.get_balance("b")).balance == 0
    finally:
        await admin.aclose()
        await store.close()
