"""One-way payment channels: deposits, signed cumulative claims, both ways of closing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ilpnet.clock import ManualClock
from ilpnet.crypto.claims import public_key_bytes, sign_claim
from ilpnet.ledger import errors
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import Channel, ChannelState, EventType
from tests.ledger.parties import open_account
from tests.ledger.test_escrows import next_event


async def opened(
    client: LedgerClient, deposit: int = 500
) -> tuple[LedgerClient, LedgerClient, Ed25519PrivateKey, Channel]:
    alice = await open_account(client, "alice", 1_000)
    bob = await open_account(client, "bob")
    key = Ed25519PrivateKey.generate()
    channel = await alice.open_channel("bob", deposit, 10_000, public_key_bytes(key))
    return alice, bob, key, channel


async def test_open_redeem_and_books(client: LedgerClient) -> None:
    alice, bob, key, ch = await opened(client)
    assert (ch.state, ch.deposit, ch.paid, ch.settle_delay_ms) == (
        ChannelState.OPEN,
        500,
        0,
        10_000,
    )
    assert await alice.balance() == 500
    assert (await client.books()).channel_locked == 500
    seen = await next_event(bob, EventType.CHANNEL_OPENED)
    assert seen.channel is not None
    assert seen.channel.id == ch.id

    after = await bob.redeem_claim(ch.id, 120, sign_claim(key, ch.id, 120), request_id="c1")
    assert after.paid == 120
    assert await bob.balance() == 120
    # the same request again does nothing more and answers the same
    assert await bob.redeem_claim(ch.id, 120, sign_claim(key, ch.id, 120), request_id="c1") == after
    # the same claim under a new id is stale: a claim never pays twice
    with pytest.raises(errors.StaleClaim):
        await bob.redeem_claim(ch.id, 120, sign_claim(key, ch.id, 120))
    with pytest.raises(errors.StaleClaim):
        await bob.redeem_claim(ch.id, 100, sign_claim(key, ch.id, 100))
    await bob.redeem_claim(ch.id, 300, sign_claim(key, ch.id, 300))
    assert await bob.balance() == 300
    books = await client.books()
    assert (books.channel_locked, books.balances, books.balanced) == (200, 800, True)


async def test_forged_and_over_deposit_claims(client: LedgerClient) -> None:
    alice, bob, key, ch = await opened(client)
    forger = Ed25519PrivateKey.generate()
    with pytest.raises(errors.BadSignature):
        await bob.redeem_claim(ch.id, 10, sign_claim(forger, ch.id, 10))
    with pytest.raises(errors.BadSignature):  # signed for another amount
        await bob.redeem_claim(ch.id, 11, sign_claim(key, ch.id, 10))
    with pytest.raises(errors.BadSignature):  # signed for another channel
        await bob.redeem_claim(ch.id, 10, sign_claim(key, "f" * 32, 10))
    with pytest.raises(errors.ClaimOverDeposit):
        await bob.redeem_claim(ch.id, 501, sign_claim(key, ch.id, 501))
    with pytest.raises(errors.Forbidden):
        await alice.redeem_claim(ch.id, 10, sign_claim(key, ch.id, 10))
    with pytest.raises(errors.UnknownChannel):
        await bob.redeem_claim("0" * 32, 10, sign_claim(key, "0" * 32, 10))
    assert await bob.balance() == 0
    # a top-up makes the bigger claim good
    funded = await alice.fund_channel(ch.id, 100)
    assert funded.deposit == 600
    assert await alice.balance() == 400
    await bob.redeem_claim(ch.id, 501, sign_claim(key, ch.id, 501))
    assert await bob.balance() == 501
    assert (await client.books()).balanced


async def test_receiver_closes_at_once(client: LedgerClient) -> None:
    alice, bob, key, ch = await opened(client)
    closed = await bob.redeem_claim(ch.id, 50, sign_claim(key, ch.id, 50), close=True)
    assert closed.state is ChannelState.CLOSED
    assert (await alice.balance(), await bob.balance()) == (950, 50)
    with pytest.raises(errors.ChannelClosed):
        await bob.redeem_claim(ch.id, 60, sign_claim(key, ch.id, 60))
    with pytest.raises(errors.ChannelClosed):
        await alice.fund_channel(ch.id, 10)
    books = await client.books()
    assert (books.channel_locked, books.balanced) == (0, True)


async def test_receiver_close_without_claim(client: LedgerClient) -> None:
    alice, bob, _, ch = await opened(client)
    closed = await bob.close_channel(ch.id)
    assert closed.state is ChannelState.CLOSED
    assert await alice.balance() == 1_000


async def test_sender_close_waits_for_the_settle_delay(
    client: LedgerClient, clock: ManualClock
) -> None:
    alice, bob, key, ch = await opened(client)
    carol = await open_account(client, "carol")
    with pytest.raises(errors.Forbidden):
        await carol.close_channel(ch.id)
    closing = await alice.close_channel(ch.id, request_id="close")
    assert closing.state is ChannelState.CLOSING
    assert closing.close_at is not None
    assert await alice.close_channel(ch.id, request_id="close") == closing
    with pytest.raises(errors.ChannelClosing):
        await alice.fund_channel(ch.id, 10)
    clock.advance(5)
    # the receiver redeems its best claim before the delay is over
    await bob.redeem_claim(ch.id, 200, sign_claim(key, ch.id, 200))
    clock.advance(5)
    done = await next_event(alice, EventType.CHANNEL_CLOSED)
    assert done.channel is not None
    assert done.channel.state is ChannelState.CLOSED
    assert done.data["refunded"] == "300"
    assert (await alice.balance(), await bob.balance()) == (800, 200)
    with pytest.raises(errors.ChannelClosed):
        await bob.redeem_claim(ch.id, 250, sign_claim(key, ch.id, 250))
    assert (await bob.get_channel(ch.id)).state is ChannelState.CLOSED
    assert (await client.books()).balanced


async def test_open_refusals(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 100)
    await open_account(client, "bob")
    key = public_key_bytes(Ed25519PrivateKey.generate())
    with pytest.raises(errors.InsufficientFunds):
        await alice.open_channel("bob", 101, 1000, key)
    with pytest.raises(errors.UnknownAccount):
        await alice.open_channel("nobody", 1, 1000, key)
    with pytest.raises(errors.InvalidRequest, match="public_key"):
        await alice.open_channel("bob", 1, 1000, key[:31])
    with pytest.raises(errors.InvalidRequest, match="settle_delay_ms"):
        await alice.open_channel("bob", 1, -1, key)
    assert await alice.balance() == 100
