"""STREAM data streams over a real memory link: the client sends bytes, the receiving
application reads them as they arrive, flow control keeps the window moving."""

from __future__ import annotations

import os

import pytest

from ilpnet.app.stream.client import StreamClient
from ilpnet.app.stream.connection import UNLIMITED, AssetDetails, DataReceived
from ilpnet.app.stream.errors import ReceiverLimitError, StreamStateError
from ilpnet.app.stream.server import ServerEvent, StreamServer
from ilpnet.clock import SystemClock
from ilpnet.links.memory import memory_link_pair


async def test_client_sends_data_the_receiver_reads_it() -> None:
    clock = SystemClock()
    sender_link, receiver_link = memory_link_pair("receiver", "sender", clock)
    server = StreamServer(address="test.receiver", asset=AssetDetails("EUR", 2), clock=clock)
    receiver_link.set_handler(server.handle_prepare)
    got = bytearray()

    def read(event: ServerEvent) -> None:
        if isinstance(event.event, DataReceived):
            got.extend(server.connection(event.connection_id).read(event.event.stream_id))

    server.on_event(read)
    creds = server.generate_credentials()
    client = StreamClient(
        sender_link, destination=creds.destination_account, shared_secret=creds.shared_secret
    )
    payload = os.urandom(200_000)  # several windows of 32 767 bytes

    stream_id = await client.send_data(payload)

    assert stream_id == 1
    assert bytes(got) == payload


async def test_data_to_a_receiver_that_does_not_read_stops_at_its_window() -> None:
    clock = SystemClock()
    sender_link, receiver_link = memory_link_pair("receiver", "sender", clock)
    server = StreamServer(address="test.receiver", asset=AssetDetails("EUR", 2), clock=clock)
    receiver_link.set_handler(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        sender_link, destination=creds.destination_account, shared_secret=creds.shared_secret
    )

    with pytest.raises(StreamStateError, match="data window is full at offset 32767"):
        await client.send_data(bytes(100_000))


async def test_server_sends_data_and_money_back_to_the_client() -> None:
    clock = SystemClock()
    client_end, server_end = memory_link_pair("server", "client", clock)
    server = StreamServer(
        address="test.receiver", asset=AssetDetails("EUR", 2), clock=clock, link=server_end
    )
    server_end.set_handler(server.handle_prepare)
    creds = server.generate_credentials()
    client = StreamClient(
        client_end,
        destination=creds.destination_account,
        shared_secret=creds.shared_secret,
        own_address="test.sender",
        asset=AssetDetails("USD", 2),
    )
    client_end.set_handler(client.handle_incoming)
    await client.probe_rate()  # tells the server our address
    (cid,) = server.connection_ids()
    back = server.sender(cid)
    payload = os.urandom(30_000)  # within one window: this client application reads at the end

    stream_id = await back.send_data(payload)

    assert stream_id == 2  # server-opened streams are even
    assert client.connection.read(2) == payload
    with pytest.raises(ReceiverLimitError):  # the client accepts no money by default
        await back.payment(source_amount=500).run()
    client.connection.default_receive_max = UNLIMITED
    receipt = await back.payment(source_amount=500).run()
    assert receipt.delivered == 500 == client.connection.total_received
