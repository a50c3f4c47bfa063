"""Crossing the settle threshold calls the Settler once with the amount to settle."""

from __future__ import annotations

import asyncio
import itertools

from ilpnet.clock import ManualClock
from ilpnet.connector.accounts import Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.store import MemoryStore, Store
from ilpnet.wire.packet import Fulfill
from tests.connector.line import StoreFactory, account, line


class RecordingSettler:
    """Stands in for a ledger: remembers what it was asked to pay (and its intents, as a
    journal would, in memory)."""

    def __init__(self) -> None:
        self.paid: list[tuple[str, int]] = []
        self.intents: dict[str, str] = {}
        self.event = asyncio.Event()
        self._keys = itertools.count()

    def intent(self, account_id: str) -> str:
        key = f"k{next(self._keys)}-{account_id}"
        self.intents[key] = account_id
        return key

    def open_intents(self) -> list[tuple[str, str]]:
        return list(self.intents.items())

    async def settle(self, account_id: str, amount: int, key: str) -> None:
        del self.intents[key]
        if amount > 0:
            self.paid.append((account_id, amount))
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


async def restarted(
    make_store: StoreFactory, settler: RecordingSettler, name: str, before: Store
) -> Connector:
    """A connector started again on the store `name` (what a crashed one used, `before`):
    a new connection to it (the memory store, which a crash would lose, is kept as is)."""
    store = before
    if not isinstance(before, MemoryStore):
        await before.close()
        store = await make_store(name)
    peer = account("b", Relation.PEER, "EUR", 6, settle_threshold=-1_000_000, settle_to=0)
    node = Connector("test.a", [peer], store, ManualClock(), settler=settler)
    await node.start()
    await asyncio.wait_for(node.drain(), 5)  # the resumed settlements run in the background
    return node


async def test_a_crash_after_the_store_raised_the_balance_loses_no_settlement(
    make_store: StoreFactory,
) -> None:
    """The crashed run journaled its intent and the store raised the balance, but the
    settler never heard the amount: the restart learns it from the store and pays it."""
    store = await make_store("crashed")
    await store.settled_incoming("b", 5_000_000)  # we owe b 5 EUR
    settler = RecordingSettler()
    key = settler.intent("b")
    assert await store.begin_settlement("b", -1_000_000, 0, key) == 5_000_000
    node = await restarted(make_store, settler, "crashed", store)
    try:
        assert settler.paid == [("b", 5_000_000)]
        assert settler.intents == {}
        assert (await node.store.get_balance("b")).balance == 0  # raised once, not twice
    finally:
        await node.close()


async def test_a_crash_before_the_store_was_asked_decides_at_restart(
    make_store: StoreFactory,
) -> None:
    store = await make_store("early")
    await store.settled_incoming("b", 3_000_000)
    settler = RecordingSettler()
    settler.intent("b")  # the crashed run got no further
    settler.intent("gone")  # an account no longer configured: nothing decided, nothing paid
    node = await restarted(make_store, settler, "early", store)
    try:
        assert settler.paid == [("b", 3_000_000)]
        assert settler.intents == {}
        assert (await node.store.get_balance("b")).balance == 0
        assert (await node.store.get_balance("gone")).balance == 0
    finally:
        await node.close()


async def test_an_intent_above_the_threshold_is_closed_without_paying(
    make_store: StoreFactory,
) -> None:
    store = await make_store("above")
    await store.settled_incoming("b", 500_000)  # -0.5 EUR: above -1 EUR
    settler = RecordingSettler()
    settler.intent("b")
    node = await restarted(make_store, settler, "above", store)
    try:
        assert settler.paid == []
        assert settler.intents == {}
        assert (await node.store.get_balance("b")).balance == -500_000
    finally:
        await node.close()
