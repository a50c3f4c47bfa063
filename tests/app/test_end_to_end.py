"""End to end as a user runs it: a connector serving BTP on 127.0.0.1, a receiver (BTP
child + STREAM + SPSP HTTP) and a sender (BTP child) paying its payment pointer across
two assets; plus stopping a payment midway and bad pointers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import pytest

from ilpnet.app.receiver import Receiver, serve_receiver
from ilpnet.app.sender import Quote, SendRequest, pay
from ilpnet.app.spsp import ReceiverNotFoundError
from ilpnet.app.stream.client import pay as stream_pay
from ilpnet.app.stream.errors import ConnectFailedError, PaymentError, PaymentReceipt
from ilpnet.app.stream.server import IncomingPayment
from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.rates import Rates
from ilpnet.connector.store.memory import MemoryStore
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpServer


@dataclass
class Node:
    url: str
    connector: Connector
    btp: BtpServer


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    clock = SystemClock()
    accounts = [
        AccountSettings(
            id="alice",
            relation=Relation.CHILD,
            asset_code="USD",
            asset_scale=2,
            max_packet_amount=1000,
        ),
        AccountSettings(id="bob", relation=Relation.CHILD, asset_code="XRP", asset_scale=6),
    ]
    btp = BtpServer(
        [BtpAccount("alice", token="alice-token"), BtpAccount("bob", token="bob-token")],
        clock=clock,
        address="test.hub",
    )
    connector = Connector(
        "test.hub",
        accounts,
        MemoryStore(),
        clock,
        rates=Rates(fixed={("USD", "XRP"): Fraction(2)}),  # 1 USD = 2 XRP
    )
    for account_id in ("alice", "bob"):
        connector.attach(btp.link(account_id))
    port = await btp.start("127.0.0.1", 0)
    await connector.start()
    yield Node(f"ws://127.0.0.1:{port}", connector, btp)
    await connector.close()
    await btp.close()


async def test_send_to_a_payment_pointer_across_assets(node: Node) -> None:
    async with Receiver(connector=node.url, token="bob-token", names=("bob",)) as receiver:
        assert receiver.address == "test.hub.bob"
        feed = receiver.payments()
        quotes: list[Quote] = []
        progress: list[PaymentReceipt] = []
        request = SendRequest(
            f"{receiver.pointer}/bob",
            5000,  # 50.00 USD
            connector=node.url,
            token="alice-token",
            insecure_http=True,
        )

        receipt = await pay(request, on_quote=quotes.append, on_progress=progress.append)

        assert receipt.complete
        assert receipt.sent == 5000
        assert receipt.delivered == 5000 * 2 * 10_000  # 100 XRP at scale 6
        assert receipt.packets >= 5  # max packet 10.00 USD
        assert (receipt.source_code, receipt.destination_code) == ("USD", "XRP")
        (quote,) = quotes
        assert quote.rate == 20_000
        assert quote.own_address == "test.hub.alice"
        assert quote.max_packet_amount == 1000
        assert progress[-1].delivered == receipt.delivered
        got = 0
        while got < receipt.delivered:
            payment: IncomingPayment = await asyncio.wait_for(anext(feed), 5)
            assert payment.connection_tag == "bob"
            assert payment.asset.code == "XRP"
            got += payment.amount
        assert got == receipt.delivered


async def test_serve_receiver_reports_payments_and_stop_ends_a_payment(node: Node) -> None:
    ready: asyncio.Future[Receiver] = asyncio.get_running_loop().create_future()
    arrived: list[IncomingPayment] = []
    more = asyncio.Event()

    def on_payment(payment: IncomingPayment) -> None:
        arrived.append(payment)
        more.set()

    stop_receiver = asyncio.Event()
    serving = asyncio.ensure_future(
        serve_receiver(
            connector=node.url,
            token="bob-token",
            on_ready=ready.set_result,
            on_payment=on_payment,
            stop=stop_receiver,
        )
    )
    receiver = await asyncio.wait_for(ready, 10)
    stop_payment = asyncio.Event()

    def stop_midway(receipt: PaymentReceipt) -> None:
        if receipt.packets == 3:
            stop_payment.set()  # what Ctrl-C does in the CLI

    request = SendRequest(
        receiver.pointer, 1_000_000, connector=node.url, token="alice-token", insecure_http=True
    )
    receipt = await asyncio.wait_for(pay(request, on_progress=stop_midway, stop=stop_payment), 30)

    assert not receipt.complete
    assert 3000 <= receipt.sent < 1_000_000
    assert receipt.delivered == receipt.sent * 20_000
    stream = receiver.stream
    assert stream is not None
    assert sum(c.total_received for c in stream.connections.values()) == receipt.delivered

    async def all_reported() -> None:
        while sum(p.amount for p in arrived) < receipt.delivered:
            more.clear()
            await more.wait()

    await asyncio.wait_for(all_reported(), 5)
    assert sum(p.amount for p in arrived) == receipt.delivered
    stop_receiver.set()
    await asyncio.wait_for(serving, 10)


async def test_unknown_pointer_is_a_clear_error(node: Node) -> None:
    async with Receiver(connector=node.url, token="bob-token") as receiver:
        request = SendRequest(
            f"{receiver.pointer}/nobody",
            100,
            connector=node.url,
            token="alice-token",
            insecure_http=True,
        )
        with pytest.raises(ReceiverNotFoundError, match="no such receiver"):
            await pay(request)


async def test_amounts_in_asset_units_source_and_delivered(node: Node) -> None:
    async with Receiver(connector=node.url, token="bob-token") as receiver:
        source = SendRequest(
            receiver.pointer,
            asset_amount=Decimal("12.5"),  # USD
            connector=node.url,
            token="alice-token",
            insecure_http=True,
        )
        paid = await pay(source)
        assert paid.sent == 1250
        delivered = SendRequest(
            receiver.pointer,
            asset_amount=Decimal("3"),  # XRP, the receiver's asset
            fixed_delivery=True,
            connector=node.url,
            token="alice-token",
            insecure_http=True,
        )
        got = await pay(delivered)
        assert got.delivered == 3_000_000
        assert got.sent == 150


async def test_receiver_gone_mid_payment_reports_exactly_what_arrived(node: Node) -> None:
    receiver = Receiver(connector=node.url, token="bob-token")
    await receiver.start()
    stream = receiver.stream
    assert stream is not None
    closing: list[asyncio.Task[None]] = []

    def leave(receipt: PaymentReceipt) -> None:
        if receipt.packets == 3 and not closing:
            closing.append(asyncio.ensure_future(receiver.close()))

    request = SendRequest(
        receiver.pointer,
        1_000_000,
        connector=node.url,
        token="alice-token",
        insecure_http=True,
        idle_timeout=1.0,
    )
    with pytest.raises(PaymentError) as caught:
        await asyncio.wait_for(pay(request, on_progress=leave), 30)
    await asyncio.gather(*closing)

    got = sum(c.total_received for c in stream.connections.values())
    assert caught.value.receipt.delivered == got >= 3 * 20_000_000 // 2
    assert "so far" in str(caught.value)


async def test_no_route_is_a_clear_error(node: Node) -> None:
    async with Receiver(connector=node.url, token="bob-token") as receiver:
        stream = receiver.stream
        assert stream is not None
        creds = stream.generate_credentials()
        link = BtpClientLink(node.url, "parent", token="alice-token")
        await link.start()
        try:
            with pytest.raises(ConnectFailedError) as caught:
                await stream_pay(link, "test.nowhere.bob", creds.shared_secret, source_amount=100)
        finally:
            await link.close()
    assert str(caught.value).startswith("F02 cannot reach the receiver: F02 Unreachable")
    assert caught.value.receipt.delivered == 0
