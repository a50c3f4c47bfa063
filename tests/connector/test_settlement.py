"""Crossing the settle threshold calls the Settler once with the amount to settle."""

from __future__ import annotations

import asyncio

from ilpnet.connector.accounts import AccountSettings
from ilpnet.wire.packet import Fulfill
from tests.connector.line import StoreFactory, line


class RecordingSettler:
    """Stands in for a ledger: remembers what it was asked to pay."""

    def __init__(self) -> None:
        self.paid: list[tuple[str, int]] = []
        self.event = asyncio.Event()

    async def settle(self, account: AccountSettings, amount: int) -> None:
        self.paid.append((account.id, amount))
        self.event.set()


async def test_settles_when_balance_drops_below_threshold(make_store: StoreFactory) -> None:
    settler = RecordingSettler()
    threshold = {"settle_threshold": -10_000_000, "settle_to": -1_000_000}
    async with line(
        make_store, a_to_b=threshold, connector_options={"a": {"settler": settler}}
    ) as net:
        assert isinstance(await net.pay(1000), Fulfill)  # A owes B 8.89 EUR: above -10
        await asyncio.wait_for(net.a.drain(), 5)
        assert settler.paid == []
        assert isinstance(await net.pay(1000), Fulfill)  # now about -17.7 EUR
        await asyncio.wait_for(settler.event.wait(), 5)
        owed = (await net.b.store.get_balance("a")).balance
        assert settler.paid == [("b", owed - 1_000_000)]
        assert (await net.a.store.get_balance("b")).balance == -1_000_000
        # B learns of the payment from the ledger and credits it.
        await net.b.credit_settlement("a", owed - 1_000_000)
        assert (await net.b.store.get_balance("a")).balance == 1_000_000


async def test_many_fulfills_settle_the_debt_once(make_store: StoreFactory) -> None:
    settler = RecordingSettler()
    threshold = {"settle_threshold": -5_000_000, "settle_to": 0}
    async with line(
        make_store, a_to_b=threshold, connector_options={"a": {"settler": settler}}
    ) as net:
        answers = await asyncio.gather(*(net.pay(100) for _ in range(20)))  # ~17.8 EUR
        assert all(isinstance(a, Fulfill) for a in answers)
        await asyncio.wait_for(net.a.drain(), 5)
        owed = (await net.b.store.get_balance("a")).balance
        paid = sum(amount for _, amount in settler.paid)
        # Whatever the interleaving, A paid what it owed once it passed -5 EUR: never more.
        assert 0 < paid <= owed
        assert (await net.a.store.get_balance("b")).balance == paid - owed
        assert (await net.a.store.get_balance("b")).balance >= -5_000_000
