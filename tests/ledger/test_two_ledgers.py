"""Real ledger processes on loopback: two ledgers, an escrow from one side fulfilled from
the other (the connector's hashlock), a channel, and a real short expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ilpnet.crypto.claims import public_key_bytes, sign_claim
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EscrowState, EventType
from tests.ledger.parties import hashlock, open_account
from tests.ledger.servers import LedgerProcess, running_ledger
from tests.ledger.test_escrows import next_event


@pytest.fixture
def two_ledgers(tmp_path: Path) -> Iterator[tuple[LedgerProcess, LedgerProcess]]:
    with (
        running_ledger(tmp_path / "xrp", name="test.xrp", asset="XRP", scale=6) as xrp,
        running_ledger(tmp_path / "eth", name="test.eth", asset="ETH", scale=9, fee=5) as eth,
    ):
        yield xrp, eth


def wall_clock_in(seconds: float) -> datetime:
    # the test's own deadline for the servers (real processes run on the system clock)
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_escrow_across_two_ledgers(two_ledgers: tuple[LedgerProcess, LedgerProcess]) -> None:
    xrp_server, eth_server = two_ledgers
    async with LedgerClient(xrp_server.url) as xrp, LedgerClient(eth_server.url) as eth:
        assert (await eth.info()).asset_code == "ETH"
        alice = await open_account(xrp, "alice", 10_000)
        conn_x = await open_account(xrp, "connector")
        conn_e = await open_account(eth, "connector", 50_000)
        bob = await open_account(eth, "bob")
        preimage, condition = hashlock()

        # alice -> connector on test.xrp, connector -> bob on test.eth, one hashlock
        source = await alice.create_escrow("connector", 1_000, condition, wall_clock_in(30))
        incoming = await next_event(conn_x, EventType.ESCROW_CREATED)
        assert incoming.escrow is not None
        assert incoming.escrow.id == source.id
        dest = await conn_e.create_escrow("bob", 2_000, condition, wall_clock_in(20), b"pkt")
        offered = await next_event(bob, EventType.ESCROW_CREATED)
        assert offered.escrow is not None
        assert offered.escrow.memo == b"pkt"

        await bob.fulfil_escrow(dest.id, preimage)
        done = await next_event(conn_e, EventType.ESCROW_FULFILLED)
        assert done.escrow is not None
        assert done.escrow.preimage is not None
        await conn_x.fulfil_escrow(source.id, done.escrow.preimage)

        assert await bob.balance() == 2_000
        assert await conn_e.balance() == 50_000 - 2_000 - 5
        assert await conn_x.balance() == 1_000
        assert await alice.balance() == 9_000
        assert (await xrp.books()).balanced
        eth_books = await eth.books()
        assert (eth_books.fees_burned, eth_books.balanced) == (5, True)


async def test_real_short_expiry_is_notified(
    two_ledgers: tuple[LedgerProcess, LedgerProcess],
) -> None:
    server, _ = two_ledgers
    async with LedgerClient(server.url) as c:
        alice = await open_account(c, "alice", 100)
        bob = await open_account(c, "bob")
        _, condition = hashlock()
        escrow = await alice.create_escrow("bob", 40, condition, wall_clock_in(0.5))
        expired = await next_event(bob, EventType.ESCROW_EXPIRED)
        assert expired.escrow is not None
        assert expired.escrow.id == escrow.id
        assert (await alice.get_escrow(escrow.id)).state is EscrowState.EXPIRED
        assert await alice.balance() == 100


async def test_channel_on_a_real_ledger(two_ledgers: tuple[LedgerProcess, LedgerProcess]) -> None:
    server, _ = two_ledgers
    async with LedgerClient(server.url) as c:
        alice = await open_account(c, "alice", 1_000)
        bob = await open_account(c, "bob")
        key = Ed25519PrivateKey.generate()
        ch = await alice.open_channel("bob", 600, 200, public_key_bytes(key))
        sub = bob.subscribe()
        claims = [100, 250, 400]
        for amount in claims:
            await bob.redeem_claim(ch.id, amount, sign_claim(key, ch.id, amount))
        await alice.close_channel(ch.id)  # completes after the 200 ms settle delay

        async def until_closed() -> list[EventType]:
            kinds: list[EventType] = []
            async for event in sub:
                kinds.append(event.type)
                if event.type is EventType.CHANNEL_CLOSED:
                    return kinds
            return kinds

        kinds = await asyncio.wait_for(until_closed(), 10)
        await sub.close()
        assert kinds == [
            EventType.CHANNEL_OPENED,
            *[EventType.CHANNEL_CLAIMED] * 3,
            EventType.CHANNEL_CLOSING,
            EventType.CHANNEL_CLOSED,
        ]
        assert (await alice.balance(), await bob.balance()) == (600, 400)
        assert (await c.books()).balanced
