"""The Redis fixture starts a real server that answers."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.redis_server import RedisServer


async def test_round_trip(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    try:
        await client.set("ilpnet:probe", b"\x00\xff")
        assert await client.get("ilpnet:probe") == b"\x00\xff"
        assert await client.incrby("ilpnet:counter", 5) == 5
    finally:
        await client.aclose()


def test_server_is_a_real_process(redis_server: RedisServer) -> None:
    assert redis_server.process.poll() is None
    assert redis_server.port > 0
