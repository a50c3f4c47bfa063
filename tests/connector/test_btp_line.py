"""A–B–C over real BTP WebSockets on loopback: a child of A pays a child of C across three
assets, having learnt its address with ILDCP; every store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.rates import Rates
from ilpnet.connector.routing_table import Route
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpServer
from ilpnet.links.ildcp import fetch_config
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT, StoreFactory, account


@dataclass
class BtpLine:
    clock: SystemClock
    a: Connector
    b: Connector
    c: Connector
    sender: BtpClientLink
    receiver: BtpClientLink
    got: list[Prepare]


@asynccontextmanager
async def btp_line(make_store: StoreFactory) -> AsyncIterator[BtpLine]:
    clock = SystemClock()
    async with AsyncExitStack() as stack:
        stores = {n: await make_store(n) for n in "abc"}
        for s in stores.values():
            stack.push_async_callback(s.close)
        # B listens for its two peers; A and C each listen for their child.
        b_server = BtpServer(
            [BtpAccount("a", "token-a"), BtpAccount("c", "token-c")], clock=clock, address="test.b"
        )
        a_server = BtpServer([BtpAccount("sender", "token-s")], clock=clock, address="test.a")
        c_server = BtpServer([BtpAccount("receiver", "token-r")], clock=clock, address="test.c")
        ports = {}
        for name, server in (("a", a_server), ("b", b_server), ("c", c_server)):
            ports[name] = await server.start()
            stack.push_async_callback(server.close)
        a_to_b = BtpClientLink(
            f"ws://127.0.0.1:{ports['b']}", "b", "token-a", "a", clock=clock, address="test.a"
        )
        c_to_b = BtpClientLink(
            f"ws://127.0.0.1:{ports['b']}", "b", "token-c", "c", clock=clock, address="test.c"
        )
        a = Connector(
            "test.a",
            [
                account("sender", Relation.CHILD, "USD", 2, maximum=1_000_000),
                account("b", Relation.PEER, "EUR", 6),
            ],
            stores["a"],
            clock,
            links=[a_server.link("sender"), a_to_b],
            routes=[Route("test", "b")],
            rates=Rates(fixed={("USD", "EUR"): Fraction(9, 10)}),
        )
        b = Connector(
            "test.b",
            [account("a", Relation.PEER, "EUR", 6), account("c", Relation.PEER, "EUR", 6)],
            stores["b"],
            clock,
            links=[b_server.link("a"), b_server.link("c")],
            routes=[Route("test.a", "a"), Route("test.c", "c")],
        )
        c = Connector(
            "test.c",
            [
                account("b", Relation.PEER, "EUR", 6),
                account("receiver", Relation.CHILD, "JPY", 0),
            ],
            stores["c"],
            clock,
            links=[c_to_b, c_server.link("receiver")],
            routes=[Route("test", "b")],
            rates=Rates(fixed={("EUR", "JPY"): Fraction(160)}),
        )
        for node in (b, a, c):
            await node.start()
            stack.push_async_callback(node.close)
        sender = BtpClientLink(f"ws://127.0.0.1:{ports['a']}", "parent", "token-s", "sender")
        receiver = BtpClientLink(f"ws://127.0.0.1:{ports['c']}", "parent", "token-r", "receiver")
        got: list[Prepare] = []

        async def fulfil(prepare: Prepare) -> Fulfill | Reject:
            got.append(prepare)
            return Fulfill(FULFILLMENT, b"ok")

        receiver.set_handler(fulfil)
        for client in (sender, receiver):
            await client.start()
            stack.push_async_callback(client.close)
        await b_server.link("a").wait_connected()
        await b_server.link("c").wait_connected()
        yield BtpLine(clock, a, b, c, sender, receiver, got)


async def test_child_of_a_pays_child_of_c_over_btp(make_store: StoreFactory) -> None:
    async with btp_line(make_store) as net:
        sender_config = await fetch_config(net.sender)
        receiver_config = await fetch_config(net.receiver)
        assert (sender_config.client_address, sender_config.asset_code) == ("test.a.sender", "USD")
        assert receiver_config.client_address == "test.c.receiver"
        prepare = Prepare(
            1000, net.clock.now() + timedelta(seconds=10), CONDITION, "test.c.receiver.inv1"
        )
        answer = await net.sender.send(prepare)
        assert answer == Fulfill(FULFILLMENT, b"ok")
        # 10.00 USD → 9 EUR at A → 9 EUR at B → 1440 JPY at C.
        (got,) = net.got
        assert got.amount == 1440
        assert got.expires_at == prepare.expires_at - timedelta(seconds=3)
        assert (await net.a.store.get_balance("sender")).balance == 1000
        assert (await net.a.store.get_balance("b")).balance == -9_000_000
        assert (await net.b.store.get_balance("a")).balance == 9_000_000
        assert (await net.b.store.get_balance("c")).balance == -9_000_000
        assert (await net.c.store.get_balance("b")).balance == 9_000_000
        assert (await net.c.store.get_balance("receiver")).balance == -1440

        over = Prepare(
            1_000_001, net.clock.now() + timedelta(seconds=10), CONDITION, "test.c.receiver"
        )
        refused = await net.sender.send(over)
        assert isinstance(refused, Reject)
        assert (refused.code, refused.triggered_by) == ("T04", "test.a")
        nowhere = await net.sender.send(
            Prepare(5, net.clock.now() + timedelta(seconds=10), CONDITION, "test.c.nobody")
        )
        assert isinstance(nowhere, Reject)
        assert (nowhere.code, nowhere.triggered_by) == ("F02", "test.c")
