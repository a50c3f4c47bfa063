"""Three connectors in a line over memory links, A–B–C, with a sender child of A and a
receiver child of C, across three assets:

    sender ──USD/2── A (test.a) ──EUR/6── B (test.b) ──EUR/6── C (test.c) ──JPY/0── receiver

A prices USD→EUR from its holdings (USD 1000, EUR 900, spread 0.002); B passes EUR on
(spread 0.001); C uses a fixed rate of 160 JPY per EUR. Each connector has its own store of
the kind the test asks for (memory, SQLite or a real Redis).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from ilpnet.clock import ManualClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.rates import BalanceHoldings, Rates
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import Store, open_store
from ilpnet.crypto.condition import condition_of
from ilpnet.links.memory import MemoryLink, memory_link_pair
from ilpnet.wire.packet import Fulfill, Prepare, Reject

FULFILLMENT = bytes(range(1, 33))
CONDITION = condition_of(FULFILLMENT)

StoreFactory = Callable[[str], Awaitable[Store]]


def store_factory(kind: str, tmp_path: Path, redis_url: str | None) -> StoreFactory:
    run = uuid.uuid4().hex

    async def make(name: str) -> Store:
        if kind == "memory":
            return await open_store("memory://")
        if kind == "sqlite":
            return await open_store(f"sqlite:///{tmp_path}/{name}.db")
        assert redis_url is not None
        return await open_store(f"{redis_url}?prefix={run}-{name}")

    return make


def account(id: str, relation: Relation, code: str, scale: int, **kw: Any) -> AccountSettings:
    return AccountSettings(id=id, relation=relation, asset_code=code, asset_scale=scale, **kw)


@dataclass
class Receiver:
    """The receiving child: fulfils with FULFILLMENT unless told otherwise."""

    got: list[Prepare] = field(default_factory=list)
    answer: Callable[[Prepare], Awaitable[Fulfill | Reject]] | None = None

    async def handle(self, prepare: Prepare) -> Fulfill | Reject:
        self.got.append(prepare)
        if self.answer is not None:
            return await self.answer(prepare)
        return Fulfill(FULFILLMENT, b"thanks")


@dataclass
class Line:
    clock: ManualClock
    a: Connector
    b: Connector
    c: Connector
    sender: MemoryLink
    receiver_link: MemoryLink
    receiver: Receiver

    def prepare(
        self,
        amount: int,
        destination: str = "test.c.receiver",
        *,
        seconds: float = 30,
        condition: bytes = CONDITION,
    ) -> Prepare:
        return Prepare(
            amount, self.clock.now() + timedelta(seconds=seconds), condition, destination
        )

    async def pay(self, amount: int, destination: str = "test.c.receiver") -> Fulfill | Reject:
        return await self.sender.send(self.prepare(amount, destination))

    async def balances(self) -> dict[str, int]:
        """`"a.sender": balance, …` for every connector's accounts."""
        found = {}
        for name, node in (("a", self.a), ("b", self.b), ("c", self.c)):
            for acct in node.accounts:
                found[f"{name}.{acct}"] = (await node.store.get_balance(acct)).balance
        return found

    async def pending(self) -> int:
        total = 0
        for node in (self.a, self.b, self.c):
            total += len(await node.store.pending_packets())
        return total


@asynccontextmanager
async def line(
    make_store: StoreFactory,
    *,
    sender: dict[str, Any] | None = None,
    a_to_b: dict[str, Any] | None = None,
    c_to_receiver: dict[str, Any] | None = None,
    connector_options: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Line]:
    clock = ManualClock()
    options = connector_options or {}
    stores = {n: await make_store(n) for n in ("a", "b", "c")}
    a_accounts = [
        account("sender", Relation.CHILD, "USD", 2, **(sender or {})),
        account("b", Relation.PEER, "EUR", 6, **(a_to_b or {})),
    ]
    b_accounts = [
        account("a", Relation.PEER, "EUR", 6),
        account("c", Relation.PEER, "EUR", 6),
    ]
    c_accounts = [
        account("b", Relation.PEER, "EUR", 6),
        account("receiver", Relation.CHILD, "JPY", 0, **(c_to_receiver or {})),
    ]
    a_map = {x.id: x for x in a_accounts}
    a_rates = Rates(
        BalanceHoldings(
            stores["a"], a_map, liquidity={"USD": Fraction(1000), "EUR": Fraction(900)}
        ),
        spread=Fraction(2, 1000),
    )
    a = Connector(
        "test.a",
        a_accounts,
        stores["a"],
        clock,
        routes=[Route("test", "b")],
        rates=a_rates,
        **options.get("a", {}),
    )
    b = Connector(
        "test.b",
        b_accounts,
        stores["b"],
        clock,
        routes=[Route("test.a", "a"), Route("test.c", "c")],
        rates=Rates(spread=Fraction(1, 1000)),
        **options.get("b", {}),
    )
    c = Connector(
        "test.c",
        c_accounts,
        stores["c"],
        clock,
        routes=[Route("test", "b")],
        rates=Rates(fixed={("EUR", "JPY"): Fraction(160)}),
        **options.get("c", {}),
    )
    sender_link, a_sender = memory_link_pair("a", "sender", clock, b_address="test.a")
    a_b, b_a = memory_link_pair("b", "a", clock, a_address="test.a", b_address="test.b")
    b_c, c_b = memory_link_pair("c", "b", clock, a_address="test.b", b_address="test.c")
    c_receiver, receiver_link = memory_link_pair("receiver", "c", clock, a_address="test.c")
    for node, links in ((a, (a_sender, a_b)), (b, (b_a, b_c)), (c, (c_b, c_receiver))):
        for link in links:
            node.attach(link)
        await node.start()
    receiver = Receiver()
    receiver_link.set_handler(receiver.handle)
    try:
        yield Line(clock, a, b, c, sender_link, receiver_link, receiver)
    finally:
        for node in (a, b, c):
            await node.close()
        await asyncio.gather(*(s.close() for s in stores.values()))
