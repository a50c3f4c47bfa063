"""Escrows: hashlocked, time-limited conditional transfers."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from ilpnet.clock import ManualClock
from ilpnet.ledger import errors
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EscrowState, Event, EventType
from ilpnet.ledger.server import LedgerServer
from ilpnet.ledger.service import LedgerConfig
from tests.ledger.conftest import CONFIG
from tests.ledger.parties import hashlock, open_account


async def next_event(client: LedgerClient, kind: EventType, after: int = 0) -> Event:
    """The first event of `kind` after sequence `after`, from the live socket (bounded)."""

    async def find() -> Event:
        sub = client.subscribe(after)
        try:
            async for event in sub:
                if event.type is kind:
                    return event
        finally:
            await sub.close()
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(find(), 5)


async def test_create_and_fulfil(client: LedgerClient, clock: ManualClock) -> None:
    alice = await open_account(client, "alice", 1_000)
    bob = await open_account(client, "bob")
    preimage, condition = hashlock()
    expires = clock.now() + timedelta(seconds=30)
    escrow = await alice.create_escrow("bob", 400, condition, expires, memo=b"ilp packet")
    assert escrow.state is EscrowState.PENDING
    assert (escrow.sender, escrow.receiver, escrow.amount) == ("alice", "bob", 400)
    assert await alice.balance() == 600
    books = await client.books()
    assert (books.escrowed, books.balanced) == (400, True)
    seen = await bob.get_escrow(escrow.id)
    assert (seen.memo, seen.condition, seen.expires_at) == (b"ilp packet", condition, expires)
    created = await next_event(bob, EventType.ESCROW_CREATED)
    assert created.escrow is not None
    assert created.escrow.memo == b"ilp packet"

    done = await bob.fulfil_escrow(escrow.id, preimage, request_id="f1")
    assert done.state is EscrowState.FULFILLED
    assert done.preimage == preimage
    assert await bob.balance() == 400
    assert await bob.fulfil_escrow(escrow.id, preimage, request_id="f1") == done
    with pytest.raises(errors.AlreadyFulfilled):
        await bob.fulfil_escrow(escrow.id, preimage, request_id="f2")
    assert await bob.balance() == 400
    fulfilled = await next_event(alice, EventType.ESCROW_FULFILLED)
    assert fulfilled.escrow is not None
    assert fulfilled.escrow.preimage == preimage
    books = await client.books()
    assert (books.escrowed, books.balances, books.balanced) == (0, 1_000, True)


async def test_wrong_preimage_and_wrong_party(client: LedgerClient, clock: ManualClock) -> None:
    alice = await open_account(client, "alice", 100)
    bob = await open_account(client, "bob")
    carol = await open_account(client, "carol")
    preimage, condition = hashlock()
    escrow = await alice.create_escrow("bob", 10, condition, clock.now() + timedelta(seconds=5))
    with pytest.raises(errors.WrongPreimage):
        await bob.fulfil_escrow(escrow.id, bytes(32))
    with pytest.raises(errors.Forbidden):
        await alice.fulfil_escrow(escrow.id, preimage)
    with pytest.raises(errors.Forbidden):
        await carol.get_escrow(escrow.id)
    with pytest.raises(errors.UnknownEscrow):
        await bob.fulfil_escrow("0" * 32, preimage)
    with pytest.raises(errors.InvalidRequest, match="escrow id"):
        await bob.fulfil_escrow("nope", preimage)
    with pytest.raises(errors.InvalidRequest, match="preimage"):
        await bob._call("POST", f"/escrows/{escrow.id}/fulfil", {"id": "x", "preimage": "ab"})
    assert (await bob.get_escrow(escrow.id)).state is EscrowState.PENDING


async def test_expiry_rolls_back_by_itself(client: LedgerClient, clock: ManualClock) -> None:
    alice = await open_account(client, "alice", 100)
    bob = await open_account(client, "bob")
    preimage, condition = hashlock()
    escrow = await alice.create_escrow("bob", 60, condition, clock.now() + timedelta(seconds=2))
    clock.advance(1.0)
    assert await alice.balance() == 40
    with pytest.raises(errors.EscrowExpired):
        await alice.create_escrow("bob", 1, condition, clock.now() - timedelta(seconds=1))
    clock.advance(1.5)
    expired = await next_event(alice, EventType.ESCROW_EXPIRED)
    assert expired.escrow is not None
    assert expired.escrow.id == escrow.id
    assert await alice.balance() == 100
    assert (await bob.get_escrow(escrow.id)).state is EscrowState.EXPIRED
    with pytest.raises(errors.EscrowExpired):
        await bob.fulfil_escrow(escrow.id, preimage)
    assert await bob.balance() == 0
    assert (await client.books()).balanced


async def test_fulfil_at_expiry_is_refused_even_before_roll_back(
    client: LedgerClient, clock: ManualClock, server: LedgerServer
) -> None:
    alice = await open_account(client, "alice", 100)
    bob = await open_account(client, "bob")
    preimage, condition = hashlock()
    escrow = await alice.create_escrow("bob", 60, condition, clock.now() + timedelta(seconds=1))
    clock.advance(1.0)
    with pytest.raises(errors.EscrowExpired):
        await bob.fulfil_escrow(escrow.id, preimage)


async def test_escrows_that_expired_while_down_roll_back_at_start(
    tmp_path: Path, clock: ManualClock
) -> None:
    db = tmp_path / "restart.sqlite3"
    async with LedgerServer(CONFIG, db, clock=clock) as first, LedgerClient(first.url) as c:
        alice = await open_account(c, "alice", 100)
        await open_account(c, "bob")
        _, condition = hashlock()
        await alice.create_escrow("bob", 30, condition, clock.now() + timedelta(seconds=60))
        assert (await c.books()).escrowed == 30
    clock.advance(120)
    async with LedgerServer(CONFIG, db, clock=clock) as second, LedgerClient(second.url) as c:
        alice = c.as_account("alice", "alice-secret-0123")
        await next_event(alice, EventType.ESCROW_EXPIRED)
        assert await alice.balance() == 100
        books = await c.books()
        assert (books.escrowed, books.balanced) == (0, True)


async def test_memo_limit_and_bad_fields(client: LedgerClient, clock: ManualClock) -> None:
    alice = await open_account(client, "alice", 100)
    await open_account(client, "bob")
    _, condition = hashlock()
    expires = clock.now() + timedelta(seconds=5)
    ok = await alice.create_escrow("bob", 1, condition, expires, memo=b"\xab" * 32 * 1024)
    assert len(ok.memo) == 32 * 1024
    with pytest.raises(errors.PayloadTooLarge, match="memo"):
        await alice.create_escrow("bob", 1, condition, expires, memo=b"x" * (32 * 1024 + 1))
    good = {
        "id": "e",
        "to": "bob",
        "amount": "1",
        "condition": condition.hex(),
        "expires_at": "2030-01-01T00:00:00Z",
        "memo": base64.b64encode(b"m").decode(),
    }
    for field, value, match in [
        ("condition", "00" * 31, "condition"),
        ("condition", "zz" * 32, "condition"),
        ("expires_at", "tomorrow", "expires_at"),
        ("expires_at", "2030-01-01T00:00:00", "expires_at"),
        ("memo", "%%%", "memo"),
        ("to", 7, "to"),
    ]:
        with pytest.raises(errors.InvalidRequest, match=match):
            await alice._call("POST", "/escrows", {**good, field: value})
    with pytest.raises(errors.UnknownAccount):
        await alice._call("POST", "/escrows", {**good, "to": "nobody"})
    first = await alice._call("POST", "/escrows", {**good, "id": "once"})
    assert await alice._call("POST", "/escrows", {**good, "id": "once"}) == first
    with pytest.raises(errors.IdempotencyConflict):
        await alice._call("POST", "/escrows", {**good, "id": "once", "memo": ""})
    with pytest.raises(errors.InsufficientFunds):
        await alice._call("POST", "/escrows", {**good, "amount": "1000"})


@pytest.mark.parametrize("ledger_config", [replace(CONFIG, fee=3)])
async def test_escrow_fee_is_burned(
    client: LedgerClient, clock: ManualClock, ledger_config: LedgerConfig
) -> None:
    alice = await open_account(client, "alice", 100)
    await open_account(client, "bob")
    _, condition = hashlock()
    escrow = await alice.create_escrow("bob", 50, condition, clock.now() + timedelta(seconds=1))
    assert escrow.fee == 3
    assert await alice.balance() == 47
    clock.advance(2)
    await next_event(alice, EventType.ESCROW_EXPIRED)
    assert await alice.balance() == 97
    books = await client.books()
    assert (books.fees_burned, books.balanced) == (3, True)
