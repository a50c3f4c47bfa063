"""Crash tests: a real connector process is SIGKILLed at each point of a payment (between the
two escrows, between the receiver's fulfil and its own) and started again on the same state
directory; every payment then ends with both escrows fulfilled or both rolled back, the
receiver is paid at most once, and the books balance on every ledger."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from ilpnet.app.escrow_receiver import EscrowReceiver
from ilpnet.app.escrow_sender import deposit_status
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EscrowState
from tests.app.escrow.connector_process import ConnectorProcess, start_connector_async
from tests.links.escrow_net import (
    CONNECTOR_FUNDS,
    LEDGERS,
    Ledgers,
    all_books,
    escrow_ends,
    escrow_payment,
    fresh,
    fund_connector,
    new_account,
    open_account,
    secret_of,
)

AMOUNT = 2 * 10**6  # 2 XRP
DEPOSIT = 10**6


def ledger_urls(ledgers: Ledgers) -> dict[str, str]:
    return {name.removeprefix("test."): ledgers.url(name) for name, *_ in LEDGERS}


async def connector_balances(ledgers: Ledgers, account: str) -> dict[str, int]:
    out = {}
    for name, *_ in LEDGERS:
        async with LedgerClient(ledgers.url(name), account, secret_of(account)) as me:
            out[name] = await me.balance()
    return out


@pytest.mark.parametrize(
    "point", ["before_create", "after_create", "outgoing_fulfilled", "before_fulfil_incoming"]
)
async def test_killed_connector_finishes_the_payment_after_restart(
    ledgers: Ledgers, tmp_path: Path, point: str
) -> None:
    conn, alice, bob = fresh("conn"), fresh("alice"), fresh("bob")
    await fund_connector(ledgers, conn)
    await new_account(ledgers.url("test.xrp"), alice, 10 * 10**6)
    state = tmp_path / "state"
    proc: ConnectorProcess = await start_connector_async(
        state, conn, secret_of(conn), ledger_urls(ledgers), crash_at=point
    )
    try:
        async with (
            await open_account(ledgers.url("test.usd"), bob) as bob_client,
            LedgerClient(ledgers.url("test.xrp"), alice, secret_of(alice)) as me,
        ):
            receiver = EscrowReceiver(bob_client, secret=secret_of(bob))
            await receiver.start()
            try:
                await me.transfer(conn, DEPOSIT)
                invoice = receiver.invoice()
                sent = await escrow_payment(
                    me, conn, AMOUNT, invoice.destination, invoice.condition, 30, invoice.data
                )
                assert await proc.exited(20) == -signal.SIGKILL, proc.log()
                proc = await start_connector_async(
                    state, conn, secret_of(conn), ledger_urls(ledgers)
                )
                done = await escrow_ends(me, sent.id, within=30)
                assert done.state is EscrowState.FULFILLED, proc.log()
                got = await asyncio.wait_for(receiver.wait_received(1), 10)
            finally:
                await receiver.close()
            assert len(got) == 1
            delivered = got[0].amount
            assert await bob_client.balance() == delivered
            assert await me.balance() == 10 * 10**6 - DEPOSIT - 10 - AMOUNT - 10
    finally:
        proc.stop()
    balances = await connector_balances(ledgers, conn)
    assert balances["test.xrp"] == CONNECTOR_FUNDS["test.xrp"] + DEPOSIT + AMOUNT
    assert balances["test.usd"] == CONNECTOR_FUNDS["test.usd"] - delivered - 1
    assert balances["test.eth"] == CONNECTOR_FUNDS["test.eth"]
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_killed_before_the_second_escrow_and_down_past_expiry_rolls_back_both(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    conn, alice, bob = fresh("conn"), fresh("alice"), fresh("bob")
    await fund_connector(ledgers, conn)
    await new_account(ledgers.url("test.xrp"), alice, 10 * 10**6)
    state = tmp_path / "state"
    proc = await start_connector_async(
        state, conn, secret_of(conn), ledger_urls(ledgers), crash_at="before_create", window_ms=2000
    )
    try:
        async with (
            await open_account(ledgers.url("test.usd"), bob) as bob_client,
            LedgerClient(ledgers.url("test.xrp"), alice, secret_of(alice)) as me,
        ):
            receiver = EscrowReceiver(bob_client, secret=secret_of(bob))
            await receiver.start()
            try:
                await me.transfer(conn, DEPOSIT)
                invoice = receiver.invoice()
                sent = await escrow_payment(
                    me, conn, AMOUNT, invoice.destination, invoice.condition, 5, invoice.data
                )
                assert await proc.exited(20) == -signal.SIGKILL, proc.log()
                assert (await escrow_ends(me, sent.id, within=15)).state is EscrowState.EXPIRED
                proc = await start_connector_async(
                    state, conn, secret_of(conn), ledger_urls(ledgers)
                )
            finally:
                await receiver.close()
            assert receiver.received == []
            assert await bob_client.balance() == 0
            assert await me.balance() == 10 * 10**6 - DEPOSIT - 10 - 10  # only its own fees
            # the connector paid no fee for this payment, so the deposit is not charged
            deposit = await deposit_status(proc.url, "test.xrp", alice)
            assert (deposit["deposited"], deposit["charged"], deposit["held"]) == (
                str(DEPOSIT),
                "0",
                "0",
            )
    finally:
        proc.stop()
    balances = await connector_balances(ledgers, conn)
    assert balances["test.xrp"] == CONNECTOR_FUNDS["test.xrp"] + DEPOSIT
    assert balances["test.usd"] == CONNECTOR_FUNDS["test.usd"]
    assert all(b.balanced for b in (await all_books(ledgers)).values())
