"""Off-ledger accounts at a real escrow connector on three real ledger processes: sign up
(capped, rate-limited), pay to a ledger and to another off-ledger account, refill by
paying yourself from a ledger."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ilpnet.app.escrow_receiver import EscrowReceiver
from ilpnet.app.escrow_sender import PaymentError, PaymentFailed, pay_from_ledger
from ilpnet.app.offledger_client import account, pay_from_offledger, signup
from ilpnet.clock import SystemClock
from ilpnet.connector.escrow_service import EscrowConnector
from ilpnet.connector.offledger import OffLedgerSettings
from tests.links.escrow_net import (
    Ledgers,
    all_books,
    connector_config,
    fresh,
    fund_connector,
    new_account,
    open_account,
    public_api,
    secret_of,
)

SIGNUP = 1_000  # 10.00 USD


@pytest.fixture
async def service_url(ledgers: Ledgers, tmp_path: Path) -> AsyncIterator[str]:
    conn = fresh("conn")
    await fund_connector(ledgers, conn)
    config = dataclasses.replace(
        connector_config(ledgers, tmp_path / "conn", conn),
        offledger=OffLedgerSettings(ledger="usd", signup_amount=SIGNUP, signups_per_window=3),
    )
    service = EscrowConnector(config, SystemClock())
    await service.start()
    try:
        async with public_api(service) as url:
            yield url
    finally:
        await service.close()


async def test_signup_gives_capped_test_money_and_is_rate_limited(service_url: str) -> None:
    alice = await signup(service_url, fresh("alice"))
    assert alice.balance == SIGNUP
    assert (alice.asset_code, alice.asset_scale) == ("USD", 2)
    assert alice.address == f"test.conn.off.{alice.name}"
    assert (await account(service_url, alice.name, alice.token)).balance == SIGNUP
    with pytest.raises(PaymentError, match="account_exists"):
        await signup(service_url, alice.name)
    await signup(service_url, fresh("bob"))
    with pytest.raises(PaymentError, match="rate_limited"):
        await signup(service_url, fresh("carol"))
    with pytest.raises(PaymentError, match="unauthorized"):
        await account(service_url, alice.name, "wrong-token")


async def test_pay_off_ledger_to_ledger_and_to_off_ledger_and_refill(
    ledgers: Ledgers, service_url: str
) -> None:
    alice = await signup(service_url, fresh("alice"))
    dave = await signup(service_url, fresh("dave"))
    bob_name = fresh("bob")
    async with await open_account(ledgers.url("test.xrp"), bob_name) as bob_client:
        bob = EscrowReceiver(bob_client, secret=secret_of(bob_name))
        await bob.start()
        try:
            after = await pay_from_offledger(
                service_url, alice.name, alice.token, bob.address, 250, receive_key=bob.receive_key
            )
            got = await asyncio.wait_for(bob.wait_received(1), 5)
        finally:
            await bob.close()
        assert after == SIGNUP - 250
        assert got[0].amount > 0
        assert await bob_client.balance() == got[0].amount

    # off-ledger to off-ledger, by invoice URL
    after = await pay_from_offledger(
        service_url, alice.name, alice.token, f"{service_url}/offledger/{dave.name}/invoice", 100
    )
    assert after == SIGNUP - 350
    assert (await account(service_url, dave.name, dave.token)).balance == SIGNUP + 100

    # a refill: alice pays herself from her account on the ETH ledger
    carol = fresh("carol")
    await new_account(ledgers.url("test.eth"), carol, 10 * 10**9)
    receipt = await pay_from_ledger(
        ledgers.url("test.eth"),
        carol,
        secret_of(carol),
        service_url,
        f"{service_url}/offledger/{alice.name}/invoice",
        10**9,
        deposit=10**8,
    )
    assert receipt.delivered > 0
    assert (await account(service_url, alice.name, alice.token)).balance == (
        SIGNUP - 350 + receipt.delivered
    )
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_paying_more_than_the_balance_or_an_unknown_account_moves_nothing(
    service_url: str,
) -> None:
    alice = await signup(service_url, fresh("alice"))
    with pytest.raises(PaymentError, match="T04: balance too low"):
        await pay_from_offledger(
            service_url, alice.name, alice.token, "test.usd.x", SIGNUP + 1, receive_key=bytes(32)
        )
    with pytest.raises(PaymentFailed, match="F02"):
        await pay_from_offledger(
            service_url, alice.name, alice.token, "test.conn.off.nobody", 5, receive_key=bytes(32)
        )
    bob = await signup(service_url, fresh("bob"))
    with pytest.raises(PaymentFailed, match="F06"):  # a condition bob never issued
        await pay_from_offledger(
            service_url, alice.name, alice.token, bob.address, 5, receive_key=bytes(32)
        )
    assert (await account(service_url, alice.name, alice.token)).balance == SIGNUP
