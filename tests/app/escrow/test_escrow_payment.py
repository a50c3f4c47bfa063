"""Paying across three real ledger processes through one escrow connector, as a sender app
and a receiver app would: quotes, deposits, receipts, roll-backs and bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest

from ilpnet.app.escrow_receiver import EscrowReceiver
from ilpnet.app.escrow_sender import (
    PaymentError,
    PaymentFailed,
    deposit_status,
    invoice_url_of_pointer,
    pay_from_ledger,
    quote_payment,
    withdraw_deposit,
)
from ilpnet.connector.escrow_service import EscrowConnector
from ilpnet.ledger.client import LedgerClient
from tests.links.escrow_net import (
    Ledgers,
    all_books,
    escrow_payment,
    fresh,
    hashlock,
    new_account,
    open_account,
    secret_of,
)


@asynccontextmanager
async def receiver_on(
    ledgers: Ledgers, ledger: str, name: str, http: bool = False
) -> AsyncIterator[EscrowReceiver]:
    async with await open_account(ledgers.url(ledger), name) as client:
        receiver = EscrowReceiver(client, secret=secret_of(name))
        await receiver.start(0 if http else None)
        try:
            yield receiver
        finally:
            await receiver.close()


async def test_sender_on_ledger_1_pays_receiver_on_ledger_3(
    ledgers: Ledgers, connector: EscrowConnector, api_url: str
) -> None:
    alice, bob = fresh("alice"), fresh("bob")
    await new_account(ledgers.url("test.xrp"), alice, 100 * 10**6)
    async with receiver_on(ledgers, "test.usd", bob) as receiver:
        said: list[str] = []
        receipt = await pay_from_ledger(
            ledgers.url("test.xrp"),
            alice,
            secret_of(alice),
            api_url,
            receiver.address,
            5 * 10**6,
            receive_key=receiver.receive_key,
            deposit=10**6,
            progress=said.append,
        )
        got = await asyncio.wait_for(receiver.wait_received(1), 5)
    assert receipt.sent == 5 * 10**6
    assert receipt.delivered == got[0].amount > 0
    assert receipt.source_asset == "XRP"
    assert receipt.destination_asset == "USD"
    assert receipt.fees == 10
    assert 0 < receipt.seconds < 10
    assert any(s.startswith("quote:") for s in said)
    assert any("deposit: paid 1000000" in s for s in said)
    async with LedgerClient(ledgers.url("test.xrp"), alice, secret_of(alice)) as me:
        assert await me.balance() == 100 * 10**6 - 10**6 - 10 - 5 * 10**6 - 10
    deposit = await deposit_status(api_url, "test.xrp", alice)
    assert deposit["charged"] == "0"
    assert deposit["held"] == "0"
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_invoice_url_and_deliver_amount(
    ledgers: Ledgers, connector: EscrowConnector, api_url: str
) -> None:
    alice, bob = fresh("alice"), fresh("bob")
    await new_account(ledgers.url("test.eth"), alice, 50 * 10**9)
    async with receiver_on(ledgers, "test.usd", bob, http=True) as receiver:
        receipt = await pay_from_ledger(
            ledgers.url("test.eth"),
            alice,
            secret_of(alice),
            api_url,
            receiver.invoice_url.replace("http://", "$"),  # a payment pointer
            250,
            deliver=True,
            deposit=10**8,
        )
        await asyncio.wait_for(receiver.wait_received(1), 5)
    # the reverse quote buys at least the wanted amount (the pool moves little in between)
    assert receipt.delivered >= 249
    assert receipt.destination_asset == "USD"


def test_payment_pointers_name_invoice_urls() -> None:
    assert invoice_url_of_pointer("$example.com/bob") == "https://example.com/bob"
    assert invoice_url_of_pointer("$example.com") == "https://example.com/invoice"
    assert invoice_url_of_pointer("$127.0.0.1:7900") == "http://127.0.0.1:7900/invoice"
    with pytest.raises(PaymentError, match="not a payment pointer"):
        invoice_url_of_pointer("$/bob")


async def test_quotes_both_ways_agree(
    ledgers: Ledgers, connector: EscrowConnector, api_url: str
) -> None:
    forward = await quote_payment(api_url, "test.xrp", "test.eth.somebody", 10**6, deliver=False)
    assert forward.source_amount == 10**6
    assert forward.destination_amount > 0
    assert forward.rollback_charge > 0  # the ETH ledger charges a fee per escrow
    back = await quote_payment(
        api_url, "test.xrp", "test.eth.somebody", forward.destination_amount, deliver=True
    )
    assert back.source_amount <= 10**6
    assert back.destination_amount >= forward.destination_amount
    with pytest.raises(PaymentError, match="unknown_ledger"):
        await quote_payment(api_url, "test.nope", "test.eth.x", 1, deliver=False)
    with pytest.raises(PaymentError, match="F02"):
        await quote_payment(api_url, "test.xrp", "test.nowhere.x", 1, deliver=False)


async def test_failed_payment_charges_the_deposit_until_it_is_used_up(
    ledgers: Ledgers, connector: EscrowConnector, api_url: str
) -> None:
    alice, bob = fresh("alice"), fresh("bob")
    await new_account(ledgers.url("test.eth"), alice, 10 * 10**9)
    await new_account(ledgers.url("test.usd"), bob)  # nobody fulfils for bob
    q = await quote_payment(api_url, "test.eth", f"test.usd.{bob}", 10**9, deliver=False)
    charge = q.rollback_charge
    assert charge > 10**6  # one US cent in ETH units (scale 9)
    deposit = charge + charge // 2
    with pytest.raises(PaymentFailed) as failed:
        await pay_from_ledger(
            ledgers.url("test.eth"),
            alice,
            secret_of(alice),
            api_url,
            f"test.usd.{bob}",
            10**9,
            receive_key=bytes(32),
            deposit=deposit,
            expiry=timedelta(seconds=5),
            wait_rollback=True,
        )
    assert failed.value.charge == charge
    status = await deposit_status(api_url, "test.eth", alice)
    assert status["charged"] == str(charge)
    assert [c["amount"] for c in status["charges"]] == [str(charge)]

    # what is left cannot cover another roll-back: the sender is told before paying ...
    with pytest.raises(PaymentError, match="no deposit"):
        await pay_from_ledger(
            ledgers.url("test.eth"),
            alice,
            secret_of(alice),
            api_url,
            f"test.usd.{bob}",
            10**9,
            receive_key=bytes(32),
        )
    async with LedgerClient(ledgers.url("test.eth"), alice, secret_of(alice)) as me:
        before = await me.balance()
        # ... and the connector refuses an escrow made anyway (it rolls back)
        escrow_id = await _raw_payment(me, connector.links["eth"].me, f"test.usd.{bob}")
        refused = await _payment_status(api_url, "test.eth", escrow_id)
        assert refused["state"] == "refused"
        assert refused["code"] == "T04"
        assert "deposit used up" in refused["message"]
        # the withdrawal pays back what is left, minus the ledger's transfer fee
        withdrawn = await withdraw_deposit(api_url, "test.eth", alice)
        assert withdrawn == deposit - charge - 1_000
        assert await me.balance() == before - 10**9 - 1_000 + withdrawn
    with pytest.raises(PaymentError, match="nothing_to_withdraw"):
        await withdraw_deposit(api_url, "test.eth", alice)
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def _raw_payment(me: LedgerClient, connector_account: str, destination: str) -> str:
    _, condition = hashlock()
    escrow = await escrow_payment(me, connector_account, 10**9, destination, condition, 3)
    return escrow.id


async def _payment_status(api_url: str, ledger: str, escrow_id: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(f"{api_url}/payments/{ledger}/{escrow_id}") as resp:
                body = await resp.json()
            if resp.status == 200 and body["state"] != "received":
                return dict(body)
            await asyncio.sleep(0.05)
    raise AssertionError("payment never seen")


async def test_bad_input_moves_no_money(
    ledgers: Ledgers, connector: EscrowConnector, api_url: str
) -> None:
    alice = fresh("alice")
    await new_account(ledgers.url("test.xrp"), alice, 10**6)
    with pytest.raises(PaymentError, match="balance 1000000 is less than"):
        await pay_from_ledger(
            ledgers.url("test.xrp"),
            alice,
            secret_of(alice),
            api_url,
            "test.usd.bob",
            5 * 10**6,
            receive_key=bytes(32),
        )
    with pytest.raises(PaymentError, match="receive key"):
        await pay_from_ledger(
            ledgers.url("test.xrp"), alice, secret_of(alice), api_url, "test.usd.bob", 5
        )
    with pytest.raises(PaymentError, match="not an ILP address"):
        await pay_from_ledger(ledgers.url("test.xrp"), alice, secret_of(alice), api_url, "bob", 5)
    with pytest.raises(PaymentError, match="R01: amount converts to zero"):
        await pay_from_ledger(
            ledgers.url("test.xrp"),
            alice,
            secret_of(alice),
            api_url,
            "test.usd.bob",
            5,
            receive_key=bytes(32),
        )
    async with LedgerClient(ledgers.url("test.xrp"), alice, secret_of(alice)) as me:
        assert await me.balance() == 10**6
