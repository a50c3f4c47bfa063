"""Accounts, authentication, the faucet and the books, against an in-process server."""

from __future__ import annotations

import aiohttp
import pytest

from ilpnet.clock import ManualClock
from ilpnet.ledger import errors
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.faucet import FaucetPolicy
from ilpnet.ledger.server import LedgerServer
from ilpnet.ledger.service import LedgerConfig
from tests.ledger.parties import open_account, secret_of


async def test_health_and_info(client: LedgerClient) -> None:
    assert await client.health()
    info = await client.info()
    assert (info.name, info.asset_code, info.asset_scale, info.fee) == ("test.xrp", "XRP", 6, 0)


async def test_create_account_never_echoes_the_secret(server: LedgerServer) -> None:
    async with aiohttp.ClientSession() as s:
        body = {"name": "alice", "secret": "a-very-secret-value"}
        async with s.post(f"{server.url}/accounts", json=body) as resp:
            text = await resp.text()
    assert resp.status == 200
    assert "a-very-secret-value" not in text
    assert '"balance":"0"' in text


async def test_create_is_idempotent_with_the_same_secret_only(client: LedgerClient) -> None:
    first = await client.create_account("alice", "secret-one-123")
    again = await client.create_account("alice", "secret-one-123")
    assert first == again
    with pytest.raises(errors.AccountExists):
        await client.create_account("alice", "secret-two-456")


@pytest.mark.parametrize("name", ["", "Alice", "-x", "a b", "x" * 65, "é"])
async def test_bad_account_names_are_refused(client: LedgerClient, name: str) -> None:
    with pytest.raises(errors.InvalidRequest, match="name"):
        await client.create_account(name, "long-enough-secret")


async def test_short_secret_is_refused(client: LedgerClient) -> None:
    with pytest.raises(errors.InvalidRequest, match="secret"):
        await client.create_account("alice", "short")


async def test_wrong_secret_and_other_accounts_are_refused(client: LedgerClient) -> None:
    alice = await open_account(client, "alice", 100)
    await open_account(client, "bob")
    with pytest.raises(errors.Unauthorized):
        await client.as_account("alice", "wrong-secret-xyz").balance()
    with pytest.raises(errors.Unauthorized):
        await client.as_account("nobody", "whatever-secret").balance()
    mallory = client.as_account("bob", secret_of("bob"))
    with pytest.raises(errors.Forbidden):
        await LedgerClient(client.url, "bob", secret_of("bob"), session=client.session)._call(
            "GET", "/accounts/alice"
        )
    with pytest.raises(errors.Forbidden):
        await mallory._call("POST", "/accounts/alice/faucet", {"id": "x", "amount": "5"})
    assert await alice.balance() == 100


async def test_missing_authorization_is_a_json_401(server: LedgerServer) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{server.url}/transfers", json={"id": "1", "to": "bob", "amount": "1"}) as resp,
    ):
        body = await resp.json()
    assert resp.status == 401
    assert body["error"] == "unauthorized"
    assert "Bearer" in body["message"]


async def test_faucet_mints_and_books_balance(client: LedgerClient) -> None:
    alice = await open_account(client, "alice")
    account = await alice.faucet(5_000)
    assert account.balance == 5_000
    assert await alice.balance() == 5_000
    books = await client.books()
    assert books.minted == 5_000
    assert books.balances == 5_000
    assert books.balanced


async def test_faucet_replay_mints_once(client: LedgerClient) -> None:
    alice = await open_account(client, "alice")
    first = await alice.faucet(70, request_id="mint-1")
    again = await alice.faucet(70, request_id="mint-1")
    assert first == again
    assert await alice.balance() == 70
    with pytest.raises(errors.IdempotencyConflict):
        await alice.faucet(71, request_id="mint-1")


async def test_faucet_amount_is_capped(client: LedgerClient) -> None:
    alice = await open_account(client, "alice")
    with pytest.raises(errors.FaucetLimit):
        await alice.faucet(1_000_000_001)
    assert await alice.balance() == 0


@pytest.mark.parametrize("amount", [0, -1, 2**63])
async def test_faucet_refuses_bad_amounts(client: LedgerClient, amount: int) -> None:
    alice = await open_account(client, "alice")
    with pytest.raises(errors.InvalidAmount):
        await alice.faucet(amount)


LIMITED = LedgerConfig(
    name="test.eth",
    asset_code="ETH",
    asset_scale=9,
    faucet=FaucetPolicy(max_amount=1000, per_account=2, per_client=3, window_seconds=10),
)


@pytest.mark.parametrize("ledger_config", [LIMITED])
async def test_faucet_rate_limits_per_account_and_client(
    client: LedgerClient, clock: ManualClock
) -> None:
    alice = await open_account(client, "alice")
    bob = await open_account(client, "bob")
    await alice.faucet(10)
    await alice.faucet(10, request_id="second")
    with pytest.raises(errors.RateLimited, match="account 'alice'"):
        await alice.faucet(10)
    await alice.faucet(10, request_id="second")  # a replay is not a new mint
    await bob.faucet(10)
    with pytest.raises(errors.RateLimited, match="client"):
        await bob.faucet(10)
    clock.advance(10.5)
    await alice.faucet(10)
    assert await alice.balance() == 30
    books = await client.books()
    assert (books.minted, books.balanced) == (40, True)
