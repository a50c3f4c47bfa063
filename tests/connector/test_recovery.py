"""A restarted connector ends what a crash left in flight: packets already past their
outgoing expiry (plus one message window) at once, the others when that time comes,
rolling both sides back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from ilpnet.clock import ManualClock
from ilpnet.connector.accounts import Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.store import InFlight, PacketState, open_store
from tests.connector.line import CONDITION, account


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_restart_ends_packets_left_in_flight(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/b.db"
    else:
        url = f"{request.getfixturevalue('redis_url')}?prefix={uuid.uuid4().hex}"
    clock = ManualClock()
    now = clock.now()
    accounts = [account("a", Relation.PEER, "EUR", 6), account("c", Relation.PEER, "EUR", 6)]

    # The run that crashes: two packets reserved and recorded, never answered, and two
    # reserved only (it died before recording them); the Prepares' expiries are a second
    # after the outgoing ones.
    before = await open_store(url)
    for packet_id, seconds in (("held-old", -2), ("held-young", 12)):
        expires_at = now + timedelta(seconds=seconds)
        await before.reserve_incoming(packet_id, "a", 7, None, expires_at)
    for packet_id, seconds in (("old", -1), ("young", 10)):
        expires_at = now + timedelta(seconds=seconds + 1)
        await before.reserve_incoming(packet_id, "a", 100, None, expires_at)
        await before.begin_packet(
            InFlight(
                packet_id,
                "a",
                100,
                "c",
                99,
                CONDITION,
                now + timedelta(seconds=seconds + 1),
                now + timedelta(seconds=seconds),
            ),
            None,
        )
    await before.close()

    store = await open_store(url)
    restarted = Connector("test.b", accounts, store, clock)
    await restarted.start()
    try:
        assert [p.packet_id for p in await store.pending_packets()] == ["young"]
        old = await store.get_packet("old")
        assert old is not None
        assert old.state is PacketState.EXPIRED
        assert [h.packet_id for h in await store.held_incoming()] == ["held-young"]
        assert (await store.get_balance("a")).balance == 107
        clock.advance(10.5)
        await asyncio.sleep(0)
        assert len(await store.pending_packets()) == 1  # within the message window
        clock.advance(0.5)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(await store.held_incoming()) == 1  # its Prepare has not expired
        clock.advance(2.5)
        await asyncio.wait_for(restarted.drain(), 5)
        assert await store.pending_packets() == []
        assert await store.held_incoming() == []
        a, c = await store.get_balance("a"), await store.get_balance("c")
        assert (a.balance, a.pending_in, c.balance, c.pending_out) == (0, 0, 0, 0)
    finally:
        await restarted.close()
        await store.close()


async def test_sweeper_ends_leftovers_a_window_after_expiry() -> None:
    clock = ManualClock()
    now = clock.now()
    store = await open_store("memory://")
    accounts = [account("a", Relation.PEER, "EUR", 6), account("c", Relation.PEER, "EUR", 6)]
    node = Connector("test.b", accounts, store, clock, sweep_interval=0)
    await store.reserve_incoming("left", "a", 100, None, now)
    await store.begin_packet(
        InFlight("left", "a", 100, "c", 99, CONDITION, now, now - timedelta(seconds=0.5)), None
    )
    # reserved, never recorded: its worker died in between (or was interrupted)
    await store.reserve_incoming("held", "a", 7, None, now - timedelta(seconds=0.5))
    assert await node.sweep() == 0  # within the message window: its worker may still end it
    clock.advance(0.5)
    assert await node.sweep() == 2
    assert (await store.get_balance("a")).balance == 0
    assert await store.held_incoming() == []
