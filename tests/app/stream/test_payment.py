"""STREAM payments end to end over real memory links: a `StreamClient` pays a
`StreamServer`, directly or through the test relay (rate, F08, T04)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.app.stream.client import StreamClient, pay
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.app.stream.errors import (
    ConnectFailedError,
    ExchangeRateError,
    NoProgressError,
    PaymentReceipt,
    ReceiverClosedError,
    ReceiverLimitError,
)
from ilpnet.app.stream.server import IncomingPayment, ServerEvent, StreamServer
from ilpnet.clock import SystemClock
from ilpnet.links.memory import memory_link_pair
from ilpnet.wire.packet import Prepare, Reject
from ilpnet.wire.stream import StreamErrorCode, StreamMaxMoney, StreamMoney
from tests.app.stream.path import Relay

USD = AssetDetails("USD", 2)
EUR = AssetDetails("EUR", 4)
SENDER = "test.sender"
RECEIVER = "test.receiver"


def make_server(**kwargs: object) -> StreamServer:
    return StreamServer(address=RECEIVER, asset=EUR, clock=SystemClock(), **kwargs)  # type: ignore[arg-type]


def received(server: StreamServer) -> int:
    return sum(c.total_received for c in server.connections.values())


async def test_pays_receiver_over_a_memory_link_pair() -> None:
    clock = SystemClock()
    sender_link, receiver_link = memory_link_pair("receiver", "sender", clock)
    server = make_server()
    receiver_link.set_handler(server.handle_prepare)
    creds = server.generate_credentials("alice")
    feed = server.payments()
    progress: list[PaymentReceipt] = []

    receipt = await pay(
        sender_link,
        creds.destination_account,
        creds.shared_secret,
        source_amount=1000,
        own_address=SENDER,
        asset=USD,
        on_progress=progress.append,
    )

    assert receipt.complete
    assert receipt.sent == receipt.delivered == 1000
    assert receipt.rate == 1
    assert receipt.packets >= 1
    assert progress
    assert (receipt.destination_code, receipt.destination_scale) == ("EUR", 4)
    assert received(server) == 1000
    first: IncomingPayment = await asyncio.wait_for(anext(feed), 1)
    assert first.connection_tag == "alice"
    assert first.asset == EUR
    assert first.amount > 0
    (connection,) = server.connections.values()
    assert connection.remote_asset == USD
    assert connection.remote_address == SENDER
    assert connection.closed
    assert connection.closed_by_remote


async def test_fixed_delivery_through_a_path_with_a_rate() -> None:
    relay = Relay(SystemClock(), rate=Fraction(3, 2), max_packet=1000)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()

    receipt = await pay(
        relay.sender_link, creds.destination_account, creds.shared_secret, delivery_amount=10_001
    )

    assert receipt.complete
    assert receipt.rate == Fraction(3, 2)
    assert 10_001 <= receipt.delivered <= 10_002
    assert receipt.delivered == received(server)
    assert receipt.sent == relay.forwarded
    assert receipt.packets >= 7  # at most 1000 source units a packet


async def test_fixed_source_learns_max_packet_amount_from_f08() -> None:
    relay = Relay(SystemClock(), rate=Fraction(1, 3), max_packet=37)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        relay.sender_link, destination=creds.destination_account, shared_secret=creds.shared_secret
    )

    rate = await client.probe_rate()
    assert client.max_packet_amount == 37
    assert rate == Fraction(12, 37)  # the probe at the F08 maximum: 37 → floor(37/3) = 12
    receipt = await client.payment(source_amount=3700).run()

    assert receipt.complete
    assert receipt.sent == 3700
    assert receipt.packets >= 100
    assert receipt.delivered == received(server) == 100 * 12
    assert "F08" in relay.codes


async def test_minimum_rate_above_the_path_rate_fails_before_sending() -> None:
    relay = Relay(SystemClock(), rate=Fraction(1, 2))
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()

    with pytest.raises(ExchangeRateError) as caught:
        await pay(
            relay.sender_link,
            creds.destination_account,
            creds.shared_secret,
            source_amount=100,
            min_rate=Fraction(3, 5),
        )

    assert "exchange rate 1/2 is below the minimum 3/5" in str(caught.value)
    assert caught.value.receipt.delivered == 0 == received(server)
    assert caught.value.code == "F04"


async def test_rate_falling_mid_payment_stops_with_what_was_delivered() -> None:
    relay = Relay(SystemClock(), rate=Fraction(2), max_packet=10)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()

    def worsen(receipt: PaymentReceipt) -> None:
        if receipt.packets == 5:
            relay.rate = Fraction(1)  # half of what was probed: far past 1 % slippage

    with pytest.raises(ExchangeRateError) as caught:
        await pay(
            relay.sender_link,
            creds.destination_account,
            creds.shared_secret,
            source_amount=1000,
            on_progress=worsen,
            max_in_flight=1,
        )

    receipt = caught.value.receipt
    assert "fell to 1, below the minimum 99/50" in str(caught.value)
    assert receipt.packets == 5
    assert receipt.delivered == 100 == received(server)
    assert not receipt.complete


async def test_t04_backs_off_and_still_pays_with_several_packets_in_flight() -> None:
    relay = Relay(SystemClock(), max_packet=100, liquidity=450)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        relay.sender_link, destination=creds.destination_account, shared_secret=creds.shared_secret
    )
    payment = client.payment(source_amount=6000, max_in_flight=8)

    receipt = await asyncio.wait_for(payment.run(), 20)

    assert receipt.complete
    assert receipt.delivered == 6000 == received(server)
    assert "T04" in relay.codes
    assert 2 <= relay.max_in_flight_packets <= 8  # never one at a time, never unbounded
    assert payment.max_concurrency_seen <= 8


async def test_receiver_closing_the_connection_ends_the_payment() -> None:
    relay = Relay(SystemClock(), max_packet=10)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()
    closing: list[asyncio.Task[None]] = []

    def close_after_some(event: ServerEvent) -> None:
        conn = server.connection(event.connection_id)
        if conn.total_received >= 50 and not closing:
            closing.append(
                asyncio.ensure_future(
                    server.close_connection(
                        event.connection_id, StreamErrorCode.APPLICATION_ERROR, "enough"
                    )
                )
            )

    server.on_event(close_after_some)
    with pytest.raises(ReceiverClosedError) as caught:
        await pay(
            relay.sender_link, creds.destination_account, creds.shared_secret, source_amount=500
        )

    assert "the receiver closed the connection (APPLICATION_ERROR: enough)" in str(caught.value)
    assert caught.value.receipt.delivered == received(server) >= 50
    await asyncio.gather(*closing)


async def test_receiver_limit_stops_at_receive_max() -> None:
    clock = SystemClock()
    sender_link, receiver_link = memory_link_pair("receiver", "sender", clock)
    server = make_server(receive_max=500)
    receiver_link.set_handler(server.handle_prepare)
    creds = server.generate_credentials()

    with pytest.raises(ReceiverLimitError) as caught:
        await pay(sender_link, creds.destination_account, creds.shared_secret, source_amount=1000)

    assert caught.value.receipt.delivered == 500 == received(server)
    assert "accepts no more than 500" in str(caught.value)


async def test_stop_ends_cleanly_and_reports_what_was_delivered() -> None:
    relay = Relay(SystemClock(), max_packet=10)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        relay.sender_link, destination=creds.destination_account, shared_secret=creds.shared_secret
    )
    payment = client.payment(source_amount=100_000)

    def stop_early(receipt: PaymentReceipt) -> None:
        if receipt.packets >= 20:
            payment.stop()

    payment.on_progress = stop_early
    receipt = await asyncio.wait_for(payment.run(), 30)

    assert not receipt.complete
    assert 200 <= receipt.delivered < 100_000
    assert receipt.delivered == received(server)


async def test_unknown_destination_is_a_clear_connect_error() -> None:
    clock = SystemClock()
    sender_link, receiver_link = memory_link_pair("receiver", "sender", clock)
    server = make_server()
    receiver_link.set_handler(server.handle_prepare)
    creds = server.generate_credentials()

    with pytest.raises(ConnectFailedError) as caught:
        await pay(sender_link, RECEIVER + ".bogus", creds.shared_secret, source_amount=10)

    assert "F02 Unreachable from test.receiver: no such STREAM connection" in str(caught.value)
    assert caught.value.receipt.delivered == 0


async def test_wrong_shared_secret_is_rejected_f06() -> None:
    clock = SystemClock()
    sender_link, receiver_link = memory_link_pair("receiver", "sender", clock)
    server = make_server()
    receiver_link.set_handler(server.handle_prepare)
    creds = server.generate_credentials()

    with pytest.raises(ConnectFailedError) as caught:
        await pay(sender_link, creds.destination_account, bytes(32), source_amount=10)

    assert caught.value.code == "F06"
    assert received(server) == 0


async def test_path_gone_mid_payment_ends_with_what_was_delivered() -> None:
    relay = Relay(SystemClock(), max_packet=10)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        relay.sender_link, destination=creds.destination_account, shared_secret=creds.shared_secret
    )
    payment = client.payment(source_amount=100_000, idle_timeout=0.5)
    cut: list[asyncio.Task[None]] = []

    def cut_the_path(receipt: PaymentReceipt) -> None:
        if receipt.packets == 10 and not cut:
            cut.append(asyncio.ensure_future(relay.close()))  # links answer T01 from now on

    payment.on_progress = cut_the_path
    with pytest.raises(NoProgressError) as caught:
        await asyncio.wait_for(payment.run(), 10)

    assert "nothing was fulfilled for 0.5 s (last: T01 Peer Unreachable" in str(caught.value)
    assert caught.value.receipt.delivered == received(server) >= 100
    await asyncio.gather(*cut)


async def test_client_answers_the_servers_probes_to_its_address() -> None:
    clock = SystemClock()
    client_end, server_end = memory_link_pair("server", "client", clock)
    server = make_server(link=server_end)
    server_end.set_handler(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        client_end,
        destination=creds.destination_account,
        shared_secret=creds.shared_secret,
        own_address=SENDER,
        asset=USD,
    )
    client_end.set_handler(client.handle_incoming)
    await client.probe_rate()
    (cid,) = server.connection_ids()
    connection = server.connection(cid)
    assert connection.remote_address == SENDER

    # the server sends to the client: a probe gets an authenticated F99, money is refused
    probe = connection.build_prepare(
        amount=7, min_amount=0, expires_at=clock.now() + timedelta(seconds=5), fulfillable=False
    )
    outcome = connection.handle_reply(probe, await server_end.send(probe.prepare))
    assert outcome.packet is not None
    assert outcome.arrived == 7
    money = connection.build_prepare(
        amount=7,
        min_amount=0,
        expires_at=clock.now() + timedelta(seconds=5),
        frames=(StreamMoney(2, 1),),
    )
    refused = connection.handle_reply(money, await server_end.send(money.prepare))
    assert not refused.fulfilled
    assert StreamMaxMoney(2, 0, 0) in (refused.packet.frames if refused.packet else ())
    elsewhere = await client.handle_incoming(probe.prepare.with_changes(destination="test.other"))
    assert isinstance(elsewhere, Reject)
    assert elsewhere.code == "F02"


async def test_receiver_closing_the_stream_ends_the_payment_with_its_code() -> None:
    relay = Relay(SystemClock(), max_packet=10)
    server = make_server()
    relay.serve(server.handle_prepare)
    creds = server.generate_credentials()

    def close_stream(event: ServerEvent) -> None:
        conn = server.connection(event.connection_id)
        if conn.total_received >= 30:
            conn.close_stream(1, StreamErrorCode.APPLICATION_ERROR, "no more, thanks")

    server.on_event(close_stream)
    with pytest.raises(ReceiverClosedError) as caught:
        await pay(
            relay.sender_link, creds.destination_account, creds.shared_secret, source_amount=500
        )

    assert "closed the stream (APPLICATION_ERROR: no more, thanks)" in str(caught.value)
    assert caught.value.receipt.delivered == received(server) >= 30


@settings(max_examples=40, deadline=None)
@given(
    segment=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=1,
        max_size=80,
    )
)
async def test_addresses_the_server_never_issued_are_f02(segment: str) -> None:
    server = make_server()
    prepare = Prepare(1, datetime(2030, 1, 1, tzinfo=UTC), bytes(32), f"{RECEIVER}.{segment}", b"")
    reply = await server.handle_prepare(prepare)
    assert isinstance(reply, Reject)
    assert reply.code == "F02"
    assert not server.connections
