"""Simple transfers: money moves once per id, fees burn, refusals change nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ilpnet.ledger import errors
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EventType
from ilpnet.ledger.service import LedgerConfig
from tests.ledger.conftest import CONFIG
from tests.ledger.parties import open_account


async def test_transfer_moves_money(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 1_000)
    bob = await open_account(client, "bob")
    t = await alice.transfer("bob", 250, request_id="pay-1")
    assert (t.id, t.sender, t.receiver, t.amount, t.fee) == ("pay-1", "alice", "bob", 250, 0)
    assert await alice.balance() == 750
    assert await bob.balance() == 250
    assert (await client.books()).balanced


async def test_same_id_twice_transfers_once_with_the_same_result(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 1_000)
    bob = await open_account(client, "bob")
    first = await alice.transfer("bob", 100, request_id="same")
    second = await alice.transfer("bob", 100, request_id="same")
    assert first == second
    assert await bob.balance() == 100
    with pytest.raises(errors.IdempotencyConflict, match="same"):
        await alice.transfer("bob", 101, request_id="same")
    received = [e for e in await bob.events_page() if e.type is EventType.TRANSFER_RECEIVED]
    assert len(received) == 1


async def test_ids_are_per_account(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 10)
    bob = await open_account(client, "bob", 10)
    await alice.transfer("bob", 1, request_id="x")
    await bob.transfer("alice", 2, request_id="x")
    assert (await alice.balance(), await bob.balance()) == (11, 9)


async def test_insufficient_funds_changes_nothing(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 10)
    await open_account(client, "bob")
    with pytest.raises(errors.InsufficientFunds, match="has 10"):
        await alice.transfer("bob", 11, request_id="too-much")
    assert await alice.balance() == 10
    # a refused write is not recorded: the same id may be used once there is money
    await alice.faucet(5)
    await alice.transfer("bob", 11, request_id="too-much")
    assert await alice.balance() == 4


async def test_unknown_receiver(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 10)
    with pytest.raises(errors.UnknownAccount, match="nobody"):
        await alice.transfer("nobody", 1)


@pytest.mark.parametrize("amount", [0, -5, "1.5", 1.5, "abc", True, None, 2**63])
async def test_bad_amounts(client: LedgerClient, amount: object) -> None:
    alice = await open_account(client, "alice", 10)
    await open_account(client, "bob")
    with pytest.raises(errors.InvalidAmount, match="amount"):
        await alice._call("POST", "/transfers", {"id": "t", "to": "bob", "amount": amount})


FEES = replace(CONFIG, fee=7)


@pytest.mark.parametrize("ledger_config", [FEES])
async def test_fees_are_burned_and_books_balance(
    client: LedgerClient, ledger_config: LedgerConfig
) -> None:
    alice = await open_account(client, "alice", 100)
    await open_account(client, "bob")
    t = await alice.transfer("bob", 50)
    assert t.fee == 7
    assert await alice.balance() == 43
    with pytest.raises(errors.InsufficientFunds):
        await alice.transfer("bob", 37)  # 37 + fee 7 > 43
    books = await client.books()
    assert (books.fees_burned, books.minted, books.balances) == (7, 100, 93)
    assert books.balanced
