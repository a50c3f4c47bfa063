"""STREAM through a real ilpnet connector: the sender and the receiver are children of one
connector on different assets (USD, scale 2 → EUR, scale 4), joined by memory links; the
sender learns its address over ILDCP, probes, pays, and the receiver gets exactly what the
receipt says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction

import pytest

from ilpnet.app.stream.client import StreamClient, pay
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.app.stream.errors import ExchangeRateError
from ilpnet.app.stream.server import StreamServer
from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation, TokenBucketSettings
from ilpnet.connector.connector import Connector
from ilpnet.connector.rates import BalanceHoldings, Rates
from ilpnet.connector.store.memory import MemoryStore
from ilpnet.links.ildcp import fetch_config
from ilpnet.links.memory import MemoryLink, memory_link_pair

CONNECTOR = "test.conn"
PRICE = Fraction(9, 10)  # one USD buys 0.9 EUR
RATE = PRICE * 100  # USD cents (scale 2) to EUR 10^-4 units (scale 4): 90


@dataclass
class Network:
    connector: Connector
    sender_link: MemoryLink
    server: StreamServer


async def build(
    max_packet_amount: int | None = None, amount_rate: TokenBucketSettings | None = None
) -> Network:
    clock = SystemClock()
    accounts = [
        AccountSettings(
            id="alice",
            relation=Relation.CHILD,
            asset_code="USD",
            asset_scale=2,
            max_packet_amount=max_packet_amount,
            amount_rate=amount_rate,
        ),
        AccountSettings(id="bob", relation=Relation.CHILD, asset_code="EUR", asset_scale=4),
    ]
    connector = Connector(
        CONNECTOR,
        accounts,
        MemoryStore(),
        clock,
        rates=Rates(fixed={("USD", "EUR"): PRICE}),
    )
    conn_alice, sender_link = memory_link_pair("alice", "parent", clock, a_address=CONNECTOR)
    conn_bob, receiver_link = memory_link_pair("bob", "parent", clock, a_address=CONNECTOR)
    connector.attach(conn_alice)
    connector.attach(conn_bob)
    await connector.start()
    receiver_config = await fetch_config(receiver_link, clock)
    server = StreamServer(
        address=receiver_config.client_address,
        asset=AssetDetails(receiver_config.asset_code, receiver_config.asset_scale),
        clock=clock,
        link=receiver_link,
    )
    receiver_link.set_handler(server.handle_prepare)
    return Network(connector, sender_link, server)


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    net = await build(max_packet_amount=500)
    yield net
    await net.connector.close()


async def test_pays_across_assets_through_the_connector(network: Network) -> None:
    clock = SystemClock()
    config = await fetch_config(network.sender_link, clock)
    assert config.client_address == "test.conn.alice"
    creds = network.server.generate_credentials("bob")
    assert creds.destination_account.startswith("test.conn.bob.")

    client = StreamClient(
        network.sender_link,
        destination=creds.destination_account,
        shared_secret=creds.shared_secret,
        own_address=config.client_address,
        asset=AssetDetails(config.asset_code, config.asset_scale),
    )
    rate = await client.probe_rate()
    assert rate == RATE
    assert client.max_packet_amount == 500  # learned from the connector's F08
    receipt = await client.payment(source_amount=12_345).run()
    await client.close()

    assert receipt.complete
    assert receipt.sent == 12_345
    assert receipt.delivered == 12_345 * 90
    assert receipt.packets >= 25
    assert (receipt.source_code, receipt.destination_code) == ("USD", "EUR")
    (connection,) = network.server.connections.values()
    assert connection.total_received == receipt.delivered
    assert connection.remote_address == "test.conn.alice"


async def test_fixed_delivery_through_the_connector(network: Network) -> None:
    creds = network.server.generate_credentials()
    receipt = await pay(
        network.sender_link,
        creds.destination_account,
        creds.shared_secret,
        delivery_amount=1_000_000,  # 100 EUR
        asset=AssetDetails("USD", 2),
    )
    assert receipt.delivered == 1_000_000 + 80  # whole cents: 11 112 cents buy 1 000 080
    assert receipt.sent == 11_112
    (connection,) = network.server.connections.values()
    assert connection.total_received == receipt.delivered


async def test_minimum_rate_through_the_connector(network: Network) -> None:
    creds = network.server.generate_credentials()
    with pytest.raises(ExchangeRateError, match="exchange rate 90 is below the minimum 91"):
        await pay(
            network.sender_link,
            creds.destination_account,
            creds.shared_secret,
            source_amount=100,
            min_rate=Fraction(91),
        )


async def test_t04_from_the_connector_backs_off_and_completes() -> None:
    net = await build(
        max_packet_amount=500,
        amount_rate=TokenBucketSettings(refill_per_second=20_000, capacity=2_000),
    )
    try:
        creds = net.server.generate_credentials()
        receipt = await pay(
            net.sender_link, creds.destination_account, creds.shared_secret, source_amount=12_000
        )
        assert receipt.complete
        assert receipt.delivered == 12_000 * 90
        assert receipt.rejected_packets > 0  # T04s, retried after backing off
    finally:
        await net.connector.close()


async def test_probe_survives_a_hop_that_rounds_small_amounts_to_nothing() -> None:
    """EUR (scale 4) to USD (scale 2) at 1/90: a 1-unit probe becomes 0 and the connector
    answers R01; the sender measures the rate with its larger probes and pays."""
    clock = SystemClock()
    accounts = [
        AccountSettings(id="erin", relation=Relation.CHILD, asset_code="EUR", asset_scale=4),
        AccountSettings(id="uma", relation=Relation.CHILD, asset_code="USD", asset_scale=2),
    ]
    connector = Connector(
        CONNECTOR, accounts, MemoryStore(), clock, rates=Rates(fixed={("EUR", "USD"): 1 / PRICE})
    )
    conn_erin, sender_link = memory_link_pair("erin", "parent", clock, a_address=CONNECTOR)
    conn_uma, receiver_link = memory_link_pair("uma", "parent", clock, a_address=CONNECTOR)
    connector.attach(conn_erin)
    connector.attach(conn_uma)
    await connector.start()
    try:
        server = StreamServer(
            address="test.conn.uma",
            asset=AssetDetails("USD", 2),
            clock=clock,
            link=receiver_link,
        )
        receiver_link.set_handler(server.handle_prepare)
        creds = server.generate_credentials()
        receipt = await pay(
            sender_link,
            creds.destination_account,
            creds.shared_secret,
            source_amount=900_000,  # 90 EUR
            asset=AssetDetails("EUR", 4),
        )
        assert receipt.complete
        assert receipt.sent == 900_000
        assert receipt.delivered == 10_000  # 100 USD
        (connection,) = server.connections.values()
        assert connection.total_received == 10_000
    finally:
        await connector.close()


async def test_probed_rate_matches_a_pool_priced_path() -> None:
    """A connector pricing by a constant-product pool gives a much worse rate to a huge
    probe than to a small packet; the sender's rate must be the one its packets get."""
    clock = SystemClock()
    accounts = [
        AccountSettings(id="bea", relation=Relation.CHILD, asset_code="BTC", asset_scale=8),
        AccountSettings(id="rex", relation=Relation.CHILD, asset_code="XRP", asset_scale=6),
    ]
    store = MemoryStore()
    holdings = BalanceHoldings(
        store,
        {a.id: a for a in accounts},
        liquidity={"BTC": Fraction(25), "XRP": Fraction(50_000)},  # 2000 XRP per BTC
    )
    connector = Connector(CONNECTOR, accounts, store, clock, rates=Rates(holdings=holdings))
    conn_bea, sender_link = memory_link_pair("bea", "parent", clock, a_address=CONNECTOR)
    conn_rex, receiver_link = memory_link_pair("rex", "parent", clock, a_address=CONNECTOR)
    connector.attach(conn_bea)
    connector.attach(conn_rex)
    await connector.start()
    try:
        server = StreamServer(
            address="test.conn.rex", asset=AssetDetails("XRP", 6), clock=clock, link=receiver_link
        )
        receiver_link.set_handler(server.handle_prepare)
        creds = server.generate_credentials()
        client = StreamClient(
            sender_link,
            destination=creds.destination_account,
            shared_secret=creds.shared_secret,
            own_address="test.conn.bea",
            asset=AssetDetails("BTC", 8),
        )
        rate = await client.probe_rate()
        # 2000 XRP per BTC is 20 drops per satoshi; small packets get almost exactly that.
        assert Fraction(199, 10) < rate <= 20
        receipt = await client.payment(source_amount=1_000_000).run()  # 0.01 BTC
        await client.close()
        assert receipt.complete
        assert receipt.delivered / receipt.sent == pytest.approx(float(rate), rel=0.01)
    finally:
        await connector.close()
