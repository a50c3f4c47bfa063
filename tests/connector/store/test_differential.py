"""The same random operations on every backend give the same answers and books, including
amounts near the int64 edges (where Redis's Lua numbers would round and SQLite would turn
to floating point)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.store import InFlight, PacketState, Store, open_store
from ilpnet.connector.store.protocols import INT64_MAX, INT64_MIN

T = datetime(2026, 1, 1, tzinfo=UTC)
big = st.one_of(
    st.integers(0, 1000),
    st.integers(2**53 - 5, 2**53 + 5),
    st.integers(INT64_MAX - 1000, INT64_MAX),
)
limit = st.one_of(st.none(), st.integers(-1000, 1000), big, st.integers(INT64_MIN, INT64_MIN + 5))
op = st.one_of(
    st.tuples(st.just("reserve"), big, limit),
    st.tuples(st.just("release"), st.none(), st.none()),
    st.tuples(st.just("commit"), st.none(), st.none()),
    st.tuples(st.just("take"), big, limit),
    st.tuples(st.just("both"), st.tuples(big, big), st.tuples(limit, limit)),
    st.tuples(st.just("settled_in"), big, st.none()),
    st.tuples(st.just("settled_out"), big, st.none()),
    st.tuples(st.just("settle"), st.integers(-(2**62), 2**62), st.integers(-(2**62), 2**62)),
    st.tuples(st.just("begin"), big, limit),
    st.tuples(st.just("finish"), st.sampled_from(list(PacketState)[1:]), st.none()),
)


async def apply(store: Store, account: str, ops: list[tuple[str, Any, Any]]) -> list[object]:
    seen: list[object] = []
    begun = reserved = 0
    holds: list[tuple[str, int]] = []  # (packet id, amount) not taken over, the latest last
    for name, a, b in ops:
        try:
            if name == "reserve":
                reserved += 1
                hold = f"{account}-h{reserved}"
                seen.append(await store.reserve_incoming(hold, account, a, b, T))
                holds.append((hold, a))
            elif name == "release":
                seen.append(await store.release_incoming(holds[-1][0] if holds else "none"))
            elif name == "commit":
                seen.append(await store.commit_incoming(holds[-1][0] if holds else "none"))
            elif name == "settled_in":
                await store.settled_incoming(account, a)
                seen.append(None)
            elif name == "settled_out":
                await store.settled_outgoing(account, a)
                seen.append(None)
            elif name == "settle":
                seen.append(await store.begin_settlement(account, a, b))
            elif name == "begin":
                begun += 1
                packet = InFlight(f"{account}-{begun}", account, 0, account, a, bytes(32), T, T)
                await store.begin_packet(packet, b)
                seen.append(None)
            elif name == "both":  # reserve and record at once, on this one account
                begun += 1
                (x, y), (most, least) = a, b
                packet = InFlight(f"{account}-{begun}", account, x, account, y, bytes(32), T, T)
                await store.reserve_and_begin(packet, most, least)
                seen.append(None)
            elif name == "take":  # record a packet taking over the latest hold
                hold, x = holds[-1] if holds else ("none", 1)
                packet = InFlight(hold, account, x, account, a, bytes(32), T, T)
                await store.begin_packet(packet, b)
                if holds:
                    holds.pop()
                seen.append(None)
            else:
                seen.append(await store.finish_packet(f"{account}-{begun}", a))
        except InsufficientLiquidityError:
            seen.append("T04")
        except TransferTimedOutError:
            seen.append("R00")
        except ValueError:
            seen.append("overflow")
        seen.append(await store.get_balance(account))
    seen.append([h for h in await store.held_incoming() if h.account == account])
    return seen


Stores = tuple[asyncio.AbstractEventLoop, list[Store]]


@pytest.fixture
def stores(
    redis_url: str, tmp_path: Path
) -> Iterator[tuple[asyncio.AbstractEventLoop, list[Store]]]:
    loop = asyncio.new_event_loop()
    urls = ["memory://", f"sqlite:///{tmp_path}/d.db", f"{redis_url}?prefix={uuid.uuid4().hex}"]
    opened = [loop.run_until_complete(open_store(u)) for u in urls]
    try:
        yield loop, opened
    finally:
        for s in opened:
            loop.run_until_complete(s.close())
        loop.close()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(op, min_size=1, max_size=12))
def test_backends_agree(ops: list[tuple[str, Any, Any]], stores: Stores) -> None:
    loop, opened = stores
    account = uuid.uuid4().hex
    found = [loop.run_until_complete(apply(s, account, ops)) for s in opened]
    assert found[0] == found[1] == found[2]
