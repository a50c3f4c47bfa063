"""Ledger escrow links on three real ledger processes with one connector serving all three:
a sender on one ledger pays a receiver on another with two escrows under one hashlock."""

from __future__ import annotations

from ilpnet.connector.escrow_service import EscrowConnector
from ilpnet.ledger.models import EscrowState
from ilpnet.links.escrow_book import IncomingState, OutgoingState
from ilpnet.wire.packet import Prepare
from tests.links.escrow_net import (
    Ledgers,
    all_books,
    escrow_ends,
    escrow_payment,
    fresh,
    hashlock,
    incoming_escrow,
    open_account,
    wall_clock_in,
)


async def test_pay_from_xrp_to_usd_through_two_escrows(
    ledgers: Ledgers, connector: EscrowConnector
) -> None:
    alice_name, bob_name = fresh("alice"), fresh("bob")
    async with (
        await open_account(ledgers.url("test.xrp"), alice_name, 100 * 10**6) as alice,
        await open_account(ledgers.url("test.usd"), bob_name) as bob,
    ):
        await alice.transfer(connector.links["xrp"].me, 10**6)  # the deposit
        preimage, condition = hashlock()
        sent = await escrow_payment(
            alice,
            connector.links["xrp"].me,
            2 * 10**6,
            f"test.usd.{bob_name}",
            condition,
            data=b"invoice 7",
        )
        offered = await incoming_escrow(bob)
        assert offered.sender == connector.links["usd"].me
        assert offered.condition == condition
        assert 0 < offered.amount < 200  # about 2 USD at the pool's price (cents)
        memo = Prepare.decode(offered.memo)
        assert memo.destination == f"test.usd.{bob_name}"
        assert memo.data == b"invoice 7"
        assert memo.amount == offered.amount
        assert offered.expires_at < sent.expires_at

        await bob.fulfil_escrow(offered.id, preimage)
        done = await escrow_ends(alice, sent.id)
        assert done.state is EscrowState.FULFILLED
        assert done.preimage == preimage
        assert await bob.balance() == offered.amount

    record = connector.book.incoming("xrp", sent.id)
    assert record is not None
    assert record.state is IncomingState.FULFILLED
    out = connector.book.outgoing(record.out_key)
    assert out is not None
    assert out.state is OutgoingState.FULFILLED
    xrp = await connector.store.get_balance("xrp")
    usd = await connector.store.get_balance("usd")
    assert xrp.balance == 2 * 10**6
    assert usd.balance == -offered.amount
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_receiver_that_never_fulfils_rolls_back_both(
    ledgers: Ledgers, connector: EscrowConnector
) -> None:
    alice_name, bob_name = fresh("alice"), fresh("bob")
    async with (
        await open_account(ledgers.url("test.eth"), alice_name, 10 * 10**9) as alice,
        await open_account(ledgers.url("test.xrp"), bob_name) as bob,
    ):
        conn_eth = connector.links["eth"].me
        await alice.transfer(conn_eth, 10**6)
        before = await alice.balance()
        _, condition = hashlock()
        sent = await escrow_payment(
            alice, conn_eth, 10**9, f"test.xrp.{bob_name}", condition, seconds=5
        )
        offered = await incoming_escrow(bob)
        assert (await escrow_ends(bob, offered.id)).state is EscrowState.EXPIRED
        assert (await escrow_ends(alice, sent.id)).state is EscrowState.EXPIRED
        # the sender is refunded all but its own escrow fee
        assert await alice.balance() == before - 1_000
        assert await bob.balance() == 0
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_memo_that_is_not_a_prepare_is_refused_and_rolls_back(
    ledgers: Ledgers, connector: EscrowConnector
) -> None:
    async with await open_account(ledgers.url("test.usd"), fresh("alice"), 10_000) as alice:
        link = connector.links["usd"]
        await alice.transfer(link.me, 100)
        _, condition = hashlock()
        sent = await alice.create_escrow(link.me, 500, condition, wall_clock_in(2), b"hello")
        assert (await escrow_ends(alice, sent.id)).state is EscrowState.EXPIRED
        record = connector.book.incoming("usd", sent.id)
        assert record is not None
        assert record.code == "F01"
        assert "not an ILP Prepare" in record.message
        assert await alice.balance() == 10_000 - 100 - 1 - 1  # deposit and two fees, no loss


async def test_cut_ledger_sockets_resume_from_the_cursor(
    ledgers: Ledgers, connector: EscrowConnector
) -> None:
    alice_name, bob_name = fresh("alice"), fresh("bob")
    async with (
        await open_account(ledgers.url("test.usd"), alice_name, 100_000) as alice,
        await open_account(ledgers.url("test.eth"), bob_name) as bob,
    ):
        await alice.transfer(connector.links["usd"].me, 10_000)
        preimage, condition = hashlock()
        sent = await escrow_payment(
            alice, connector.links["usd"].me, 5_000, f"test.eth.{bob_name}", condition
        )
        offered = await incoming_escrow(bob)
        eth, usd = connector.workers["eth"], connector.workers["usd"]
        before = (eth.connects, usd.connects)
        # the fulfil lands while both workers are cut off from their ledgers
        await eth.drop_connection()
        await usd.drop_connection()
        await bob.fulfil_escrow(offered.id, preimage)
        done = await escrow_ends(alice, sent.id)
        assert done.state is EscrowState.FULFILLED
        assert (eth.connects, usd.connects) > before
        assert eth.connects > before[0]
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_escrow_expiring_too_soon_is_rejected_r02_and_moves_no_money(
    ledgers: Ledgers, connector: EscrowConnector
) -> None:
    alice_name = fresh("alice")
    async with await open_account(ledgers.url("test.xrp"), alice_name, 10**7) as alice:
        link = connector.links["xrp"]
        await alice.transfer(link.me, 10**6)
        _, condition = hashlock()
        # 2 s of life cannot hold the connector's 2 s message window plus its own escrow
        sent = await escrow_payment(alice, link.me, 10**6, "test.usd.bob", condition, seconds=2)
        assert (await escrow_ends(alice, sent.id)).state is EscrowState.EXPIRED
        record = connector.book.incoming("xrp", sent.id)
        assert record is not None
        assert (record.state, record.code) == (IncomingState.EXPIRED, "R02")
        assert await alice.balance() == 10**7 - 10**6 - 10 - 10
    assert connector.book.outgoing(f"out:xrp:{sent.id}") is None
    deposit = connector.desk.account("xrp", alice_name)
    assert (deposit.charged, deposit.held, deposit.available) == (0, 0, 10**6)


async def test_replaying_every_event_changes_nothing(
    ledgers: Ledgers, connector: EscrowConnector
) -> None:
    alice_name, bob_name = fresh("alice"), fresh("bob")
    async with (
        await open_account(ledgers.url("test.xrp"), alice_name, 100 * 10**6) as alice,
        await open_account(ledgers.url("test.usd"), bob_name) as bob,
    ):
        link = connector.links["xrp"]
        await alice.transfer(link.me, 10**6)
        preimage, condition = hashlock()
        sent = await escrow_payment(alice, link.me, 10**6, f"test.usd.{bob_name}", condition)
        offered = await incoming_escrow(bob)
        await bob.fulfil_escrow(offered.id, preimage)
        assert (await escrow_ends(alice, sent.id)).state is EscrowState.FULFILLED
        before = await all_books(ledgers)
        balances = (await connector.store.all_balances(), await bob.balance())
        deposit = connector.desk.account("xrp", alice_name)
        # a lost cursor: every event of both ledgers is applied a second time
        for ident in ("xrp", "usd"):
            escrow_link = connector.links[ident]
            for event in await escrow_link.client.events_page(0):
                await escrow_link.on_event(event)
        assert await all_books(ledgers) == before
        assert (await connector.store.all_balances(), await bob.balance()) == balances
        assert connector.desk.account("xrp", alice_name) == deposit
        assert await alice.balance() == 100 * 10**6 - 10**6 - 10 - 10**6 - 10
