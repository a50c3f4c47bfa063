"""Notifications: every event touching an account, in order, resumable without gaps."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from ilpnet.clock import ManualClock
from ilpnet.ledger import errors
from ilpnet.ledger.client import EventSubscription, LedgerClient
from ilpnet.ledger.models import EscrowState, Event, EventType
from ilpnet.ledger.server import LedgerServer
from tests.ledger.parties import hashlock, open_account


async def take(sub: EventSubscription, n: int) -> list[Event]:
    async def collect() -> list[Event]:
        got: list[Event] = []
        async for event in sub:
            got.append(event)
            if len(got) == n:
                break
        return got

    return await asyncio.wait_for(collect(), 5)


async def test_live_events_in_order(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 100)
    bob = await open_account(client, "bob")
    sub = bob.subscribe()
    receiving = asyncio.create_task(take(sub, 5))
    for i in range(5):
        await alice.transfer("bob", i + 1)
    events = await receiving
    await sub.close()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert {e.type for e in events} == {EventType.TRANSFER_RECEIVED}
    assert [e.transfer.amount for e in events if e.transfer] == [1, 2, 3, 4, 5]
    # what was pushed live is what the log gives back later
    assert await bob.events_page() == events


async def test_resume_after_disconnect_has_no_gap_or_duplicate(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 2_000)
    bob = await open_account(client, "bob")
    sub = bob.subscribe()
    seen: list[int] = []
    amounts: list[int] = []

    async def consume() -> None:
        async for event in sub:
            seen.append(event.seq)
            if event.transfer:
                amounts.append(event.transfer.amount)
            if len(seen) == 60:
                return

    consumer = asyncio.create_task(consume())
    for i in range(60):
        await alice.transfer("bob", i + 1)
        if i % 15 == 7:
            await sub.drop_connection()
    await asyncio.wait_for(consumer, 10)
    await sub.close()
    assert seen == list(range(1, 61))
    assert amounts == list(range(1, 61))
    assert sub.connects >= 2


async def test_resume_from_a_given_sequence(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 100)
    for _ in range(4):
        await alice.faucet(1)
    sub = alice.subscribe(after=3)
    events = await take(sub, 2)
    await sub.close()
    assert [e.seq for e in events] == [4, 5]
    page = await alice.events_page(after=1, limit=2)
    assert [e.seq for e in page] == [2, 3]


async def test_both_sides_see_escrows_and_transfers(
    client: LedgerClient, clock: ManualClock
) -> None:
    alice = await open_account(client, "alice", 10)
    bob = await open_account(client, "bob")
    sub = bob.subscribe()
    # all five of bob's events, the expiry too: the expiry task runs after clock.advance
    # returns, so only its notification says the logs are complete
    live = asyncio.create_task(take(sub, 5))
    await alice.transfer("bob", 3)
    preimage, condition = hashlock()
    escrow = await alice.create_escrow("bob", 2, condition, clock.now() + timedelta(seconds=9))
    await bob.fulfil_escrow(escrow.id, preimage)
    _, condition = hashlock()
    await alice.create_escrow("bob", 1, condition, clock.now() + timedelta(seconds=1))
    clock.advance(2)
    pushed = await live
    await sub.close()
    assert [e.type for e in await alice.events_page()] == [
        EventType.FAUCET,
        EventType.TRANSFER_SENT,
        EventType.ESCROW_CREATED,
        EventType.ESCROW_FULFILLED,
        EventType.ESCROW_CREATED,
        EventType.ESCROW_EXPIRED,
    ]
    logged = await bob.events_page()
    assert [e.type for e in logged] == [
        EventType.TRANSFER_RECEIVED,
        EventType.ESCROW_CREATED,
        EventType.ESCROW_FULFILLED,
        EventType.ESCROW_CREATED,
        EventType.ESCROW_EXPIRED,
    ]
    assert pushed == logged
    created = logged[1].escrow
    assert created is not None
    assert (created.state, created.preimage) == (EscrowState.PENDING, None)


async def test_subscription_needs_the_account_secret(
    client: LedgerClient, server: LedgerServer
) -> None:
    await open_account(client, "alice")
    with pytest.raises(errors.Unauthorized):
        await take(client.as_account("alice", "wrong-secret-1").subscribe(), 1)
    with pytest.raises(errors.InvalidRequest, match="after"):
        await client.as_account("alice", "alice-secret-0123")._call(
            "GET", "/accounts/alice/events?after=x"
        )
