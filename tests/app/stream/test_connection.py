"""The sans-I/O STREAM connection: a client and a server connection exchanging real
encrypted ILP packets directly, checking the receiver's rules of spec 07 §9–10."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.app.stream.connection import (
    UNLIMITED,
    AssetDetails,
    ConnectionClosed,
    DataReceived,
    MoneyReceived,
    OutgoingPrepare,
    Role,
    StreamClosed,
    StreamConnection,
    StreamOpened,
)
from ilpnet.wire.errors import InvalidValueError
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from ilpnet.wire.stream import (
    ConnectionAssetDetails,
    ConnectionClose,
    ConnectionMaxData,
    ConnectionMaxStreamId,
    Frame,
    IlpPacketType,
    StreamClose,
    StreamData,
    StreamErrorCode,
    StreamMaxMoney,
    StreamMoney,
    StreamPacket,
)

EXPIRY = datetime(2030, 1, 1, tzinfo=UTC)
SERVER = "test.server.conn"


def pair(receive_max: int = UNLIMITED) -> tuple[StreamConnection, StreamConnection]:
    secret = os.urandom(32)
    client = StreamConnection(
        role=Role.CLIENT,
        shared_secret=secret,
        own_address="test.client",
        asset=AssetDetails("USD", 2),
        remote_address=SERVER,
    )
    server = StreamConnection(
        role=Role.SERVER,
        shared_secret=secret,
        own_address=SERVER,
        asset=AssetDetails("EUR", 4),
        default_receive_max=receive_max,
    )
    return client, server


def exchange(
    client: StreamConnection,
    server: StreamConnection,
    *,
    amount: int = 0,
    min_amount: int = 0,
    frames: tuple[Frame, ...] = (),
    fulfillable: bool = True,
    deliver: int | None = None,
) -> tuple[OutgoingPrepare, Fulfill | Reject, StreamPacket | None]:
    out = client.build_prepare(
        amount=amount,
        min_amount=min_amount,
        expires_at=EXPIRY,
        frames=frames,
        fulfillable=fulfillable,
    )
    prepare = out.prepare
    if deliver is not None:  # what a connector on the path would do to the amount
        prepare = prepare.with_changes(amount=deliver)
    reply = server.handle_prepare(prepare)
    outcome = client.handle_reply(out, reply)
    return out, reply, outcome.packet


def test_first_packet_exchanges_addresses_and_asset_details() -> None:
    client, server = pair()
    _, reply, packet = exchange(client, server, amount=5, frames=(StreamMoney(1, 1),))

    assert isinstance(reply, Fulfill)
    assert packet is not None
    assert packet.ilp_packet_type == IlpPacketType.FULFILL
    assert packet.sequence == 1
    assert packet.prepare_amount == 5
    assert ConnectionMaxStreamId(20) in packet.frames
    assert ConnectionAssetDetails("EUR", 4) in packet.frames
    assert server.remote_address == "test.client"
    assert server.remote_asset == AssetDetails("USD", 2)
    assert client.remote_asset == AssetDetails("EUR", 4)
    assert server.drain_events() == [StreamOpened(1), MoneyReceived(1, 5, 5, 5)]
    # once acknowledged, the client stops repeating its address
    out = client.build_prepare(amount=0, min_amount=0, expires_at=EXPIRY)
    assert server.crypto.open(out.prepare.data).frames == ()


def test_unfulfillable_probe_gets_f99_with_the_amount_that_arrived() -> None:
    client, server = pair()
    out, reply, packet = exchange(client, server, amount=1000, fulfillable=False, deliver=731)

    assert isinstance(reply, Reject)
    assert reply.code == "F99"
    assert reply.triggered_by == SERVER
    assert packet is not None
    assert packet.ilp_packet_type == IlpPacketType.REJECT
    assert packet.sequence == out.sequence
    assert packet.prepare_amount == 731
    assert isinstance(packet.frames[0], ConnectionMaxData)
    assert server.total_received == 0


def test_less_than_the_minimum_is_refused() -> None:
    client, server = pair()
    _, reply, packet = exchange(
        client, server, amount=100, min_amount=99, frames=(StreamMoney(1, 1),), deliver=98
    )
    assert isinstance(reply, Reject)
    assert reply.code == "F99"
    assert packet is not None
    assert packet.prepare_amount == 98
    assert server.total_received == 0


def test_undecryptable_data_is_f06_with_no_data() -> None:
    client, server = pair()
    out = client.build_prepare(amount=1, min_amount=0, expires_at=EXPIRY)
    tampered = bytearray(out.prepare.data)
    tampered[-1] ^= 1
    reply = server.handle_prepare(out.prepare.with_changes(data=bytes(tampered)))
    assert isinstance(reply, Reject)
    assert (reply.code, reply.data) == ("F06", b"")


def test_stream_packet_of_the_wrong_ilp_type_is_f06() -> None:
    _client, server = pair()
    data = server.crypto.seal(StreamPacket(IlpPacketType.FULFILL, 1, 0, ()))
    prepare = Prepare(0, EXPIRY, server.crypto.condition(data), SERVER, data)
    reply = server.handle_prepare(prepare)
    assert isinstance(reply, Reject)
    assert reply.code == "F06"


def test_stream_id_of_the_wrong_parity_closes_with_protocol_violation() -> None:
    client, server = pair()
    _, reply, packet = exchange(client, server, amount=1, frames=(StreamMoney(2, 1),))
    assert isinstance(reply, Reject)
    assert packet is not None
    assert ConnectionClose(StreamErrorCode.PROTOCOL_VIOLATION, "stream id 2 has our parity") in (
        packet.frames
    )
    assert server.closed
    assert client.closed
    assert client.closed_by_remote


def test_stream_id_over_the_limit_closes_with_stream_id_error() -> None:
    client, server = pair()
    _, reply, packet = exchange(client, server, amount=1, frames=(StreamMoney(21, 1),))
    assert isinstance(reply, Reject)
    assert packet is not None
    closes = [f for f in packet.frames if isinstance(f, ConnectionClose)]
    assert closes[0].error_code == StreamErrorCode.STREAM_ID_ERROR


def test_money_is_split_by_shares() -> None:
    client, server = pair()
    frames = (StreamMoney(1, 5), StreamMoney(3, 15), StreamMoney(5, 30))
    _, reply, _ = exchange(client, server, amount=100, frames=frames)
    assert isinstance(reply, Fulfill)
    got = {s.stream_id: s.total_received for s in server.streams.values()}
    assert got == {1: 10, 3: 30, 5: 60}


def test_money_over_receive_max_is_refused_with_the_limit() -> None:
    client, server = pair(receive_max=50)
    _, reply, packet = exchange(client, server, amount=51, frames=(StreamMoney(1, 1),))
    assert isinstance(reply, Reject)
    assert packet is not None
    assert StreamMaxMoney(1, 50, 0) in packet.frames
    _, ok, _ = exchange(client, server, amount=50, frames=(StreamMoney(1, 1),))
    assert isinstance(ok, Fulfill)


def test_data_is_reassembled_in_order_and_flow_controlled() -> None:
    client, server = pair()
    later = StreamData(1, 3, b"def")
    _, first, _ = exchange(client, server, frames=(later,))
    assert isinstance(first, Fulfill)
    assert server.read(1) == b""  # a gap before offset 3
    _, second, _ = exchange(client, server, frames=(StreamData(1, 0, b"abc"),))
    assert isinstance(second, Fulfill)
    assert DataReceived(1, 6) in server.drain_events()
    assert server.read(1) == b"abcdef"
    # past the advertised window of 32 767 bytes beyond what was read: flow-control error
    _, over, packet = exchange(client, server, frames=(StreamData(1, 32_000, bytes(1000)),))
    assert isinstance(over, Reject)
    assert packet is not None
    closes = [f for f in packet.frames if isinstance(f, ConnectionClose)]
    assert closes[0].error_code == StreamErrorCode.FLOW_CONTROL_ERROR


def test_client_data_flows_through_take_data_frames() -> None:
    client, server = pair()
    stream = client.open_stream()
    payload = os.urandom(100_000)
    client.write(stream.stream_id, payload)
    got = bytearray()
    packets = 0
    while stream.outgoing:
        frames = client.take_data_frames(30_000)
        assert frames
        _, reply, _ = exchange(client, server, frames=tuple(frames))
        assert isinstance(reply, Fulfill)
        got += server.read(stream.stream_id)
        packets += 1
    assert bytes(got) == payload
    assert packets >= 4


def test_closing_a_stream_then_sending_on_it_is_a_stream_state_error() -> None:
    client, server = pair()
    exchange(client, server, amount=1, frames=(StreamMoney(1, 1),))
    server.drain_events()
    _, reply, packet = exchange(client, server, frames=(StreamClose(1, StreamErrorCode.NO_ERROR),))
    assert isinstance(reply, Fulfill)
    assert StreamClosed(1, StreamErrorCode.NO_ERROR, "", by_remote=True) in server.drain_events()
    assert packet is not None
    assert StreamClose(1, StreamErrorCode.NO_ERROR, "") in packet.frames  # answered in kind
    _, again, packet = exchange(client, server, amount=1, frames=(StreamMoney(1, 1),))
    assert isinstance(again, Reject)
    assert packet is not None
    assert next(f for f in packet.frames if isinstance(f, StreamClose)).error_code == (
        StreamErrorCode.STREAM_STATE_ERROR
    )


def test_connection_close_from_the_client_closes_the_server_side() -> None:
    client, server = pair()
    client.close(StreamErrorCode.NO_ERROR, "done")
    _, reply, _ = exchange(client, server, fulfillable=False)
    assert isinstance(reply, Reject)
    assert server.closed
    assert ConnectionClosed(StreamErrorCode.NO_ERROR, "done", by_remote=True) in (
        server.drain_events()
    )


def test_reply_with_another_sequence_is_ignored() -> None:
    client, server = pair()
    first = client.build_prepare(amount=0, min_amount=0, expires_at=EXPIRY, fulfillable=False)
    second = client.build_prepare(amount=0, min_amount=0, expires_at=EXPIRY, fulfillable=False)
    reply = server.handle_prepare(second.prepare)
    assert client.handle_reply(first, reply).packet is None
    assert client.handle_reply(second, reply).packet is not None
    assert second.sequence == first.sequence + 1


def test_expiry_is_what_the_sender_chose() -> None:
    client, _ = pair()
    when = EXPIRY + timedelta(seconds=30)
    out = client.build_prepare(amount=1, min_amount=0, expires_at=when)
    assert out.prepare.expires_at == when


def test_asset_amounts_convert_exactly() -> None:
    usd = AssetDetails("USD", 2)
    assert usd.format(1234) == "12.34 USD"
    assert usd.format(5) == "0.05 USD"
    assert AssetDetails("JPY", 0).format(7) == "7 JPY"
    assert usd.to_smallest_units(Decimal("10.5")) == 1050
    with pytest.raises(InvalidValueError, match=r"10\.001 USD has more decimals"):
        usd.to_smallest_units(Decimal("10.001"))


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=200))
def test_garbage_data_is_f06_never_a_crash(data: bytes) -> None:
    _, server = pair()
    prepare = Prepare(10, EXPIRY, bytes(32), SERVER, data)
    reply = server.handle_prepare(prepare)
    assert isinstance(reply, Reject)
    assert (reply.code, reply.data) == ("F06", b"")
    assert server.total_received == 0
