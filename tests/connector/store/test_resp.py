"""The store's small Redis client against a real server: pipelined replies stay matched to
their calls (also when a caller gives up), error replies raise, a lost connection is
re-established."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid

import pytest

from ilpnet.connector.store.resp import RespClient, RespError


async def test_replies_match_calls_under_concurrency(redis_url: str) -> None:
    client = RespClient(redis_url)
    key = uuid.uuid4().hex
    try:
        await client.call("PING")  # connected: from here every call is written at once
        got = await asyncio.gather(*(client.call("INCRBY", key, i) for i in range(1, 101)))
        assert got == list(itertools.accumulate(range(1, 101)))
        assert await client.call("GET", key) == str(sum(range(1, 101))).encode()
        echoes = await asyncio.gather(*(client.call("ECHO", f"m{i}") for i in range(50)))
        assert echoes == [f"m{i}".encode() for i in range(50)]
    finally:
        await client.close()


async def test_cancelled_call_does_not_shift_replies(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        await client.call("PING")
        slow = asyncio.ensure_future(client.call("ECHO", "first"))
        slow.cancel()
        assert await client.call("ECHO", "second") == b"second"
    finally:
        await client.close()


async def test_error_reply_raises(redis_url: str) -> None:
    client = RespClient(redis_url)
    try:
        with pytest.raises(RespError, match="NOSCRIPT"):
            await client.call("EVALSHA", "0" * 40, 0)
        assert await client.call("PING") == b"PONG"
    finally:
        await client.close()


async def test_reconnects_after_the_server_drops_it(redis_url: str) -> None:
    client = RespClient(redis_url)
    admin = RespClient(redis_url)
    try:
        await client.call("CLIENT", "SETNAME", "victim")
        clients = (await admin.call("CLIENT", "LIST")).decode()
        victim = next(line for line in clients.splitlines() if "name=victim" in line)
        victim_id = victim.split("id=")[1].split()[0]
        await admin.call("CLIENT", "KILL", "ID", victim_id)
        with contextlib.suppress(ConnectionError):  # if the loss is noticed mid-call
            await client.call("PING")
        assert await client.call("PING") == b"PONG"
        assert await client.call("CLIENT", "GETNAME") is None  # a new connection
    finally:
        await client.close()
        await admin.close()


def test_only_redis_urls() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RespClient("http://127.0.0.1:1")
