"""The sans-I/O BTP session: auth, request matching, malformed input, byte-exact frames."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.clock import ManualClock
from ilpnet.links.btp_session import (
    AuthFailed,
    AuthRequested,
    AuthSucceeded,
    BtpEvent,
    BtpSession,
    IncomingPrepare,
    MessageReceived,
    PacketDropped,
    RequestFailed,
    ResponseReceived,
    Role,
    SessionState,
    SessionStateError,
    TransferReceived,
    ilp_frame,
    read_ilp_frame,
)
from ilpnet.wire.btp import (
    BtpErrorCode,
    BtpType,
    ContentType,
    Error,
    LegacyReject,
    Message,
    ProtocolData,
    Response,
    Transfer,
    auth_message,
    decode_btp,
    ilp_message,
    ilp_response,
)
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.spec_vectors import MISSING, spec_dir

T0 = datetime(2021, 6, 1, 10, 0, tzinfo=UTC)


def btp_vector(description_start: str) -> dict[str, Any]:
    path = spec_dir() / "vectors" / "btp.json"
    if not path.exists():
        pytest.skip(MISSING.format(path=path))
    for v in json.loads(path.read_text()):
        if v["description"].startswith(description_start):
            return dict(v)
    raise LookupError(description_start)


def prepare(n: int = 0, amount: int = 10) -> Prepare:
    fulfillment = n.to_bytes(32, "big")
    return Prepare(
        amount,
        T0 + timedelta(seconds=30),
        hashlib.sha256(fulfillment).digest(),
        "test.bob.receiver",
        n.to_bytes(4, "big"),
    )


def fulfill_for(p: Prepare) -> Fulfill:
    return Fulfill(bytes(28) + p.data, b"done")


def deliver(src: BtpSession, dst: BtpSession) -> list[BtpEvent]:
    events: list[BtpEvent] = []
    for frame in src.data_to_send():
        events += dst.receive(frame)
    return events


def open_pair(clock: ManualClock) -> tuple[BtpSession, BtpSession]:
    client = BtpSession(Role.CLIENT, clock, first_request_id=1)
    server = BtpSession(Role.SERVER, clock, first_request_id=1_000_000)
    client.authenticate("tok", "alice")
    assert deliver(client, server) == [AuthRequested(1, "alice", "tok")]
    server.accept_auth()
    assert deliver(server, client) == [AuthSucceeded()]
    assert client.is_open
    assert server.is_open
    return client, server


def only_frame(session: BtpSession) -> Any:
    frames = session.data_to_send()
    assert len(frames) == 1
    return decode_btp(frames[0])


# ---- auth --------------------------------------------------------------------------


def test_client_auth_message_matches_the_reference_bytes() -> None:
    v = btp_vector("BTP auth Message (client -> server)")
    client = BtpSession(Role.CLIENT, ManualClock(T0), first_request_id=0xABCDEF01)
    assert client.state is SessionState.AUTHENTICATING
    assert client.authenticate("s3cr3t-t0ken", "alice") == 0xABCDEF01
    assert client.data_to_send() == [bytes.fromhex(v["hex"])]
    with pytest.raises(SessionStateError):
        client.authenticate("again")


def test_server_accepts_auth_with_the_reference_response() -> None:
    server = BtpSession(Role.SERVER, ManualClock(T0))
    raw = bytes.fromhex(btp_vector("BTP auth Message (client -> server)")["hex"])
    events = server.receive(raw)
    assert events == [AuthRequested(0xABCDEF01, "alice", "s3cr3t-t0ken")]
    assert "s3cr3t" not in repr(events[0])
    assert server.state is SessionState.AUTH_PENDING
    server.accept_auth()
    assert server.data_to_send() == [bytes.fromhex(btp_vector("BTP auth accepted")["hex"])]
    assert server.is_open


def test_server_refuses_auth_with_the_reference_error() -> None:
    server = BtpSession(Role.SERVER, ManualClock(T0))
    server.receive(bytes.fromhex(btp_vector("BTP auth Message (client -> server)")["hex"]))
    server.reject_auth("invalid auth_token")
    assert server.data_to_send() == [bytes.fromhex(btp_vector("BTP auth rejected")["hex"])]
    assert server.state is SessionState.CLOSED
    assert server.receive(Response(1).encode()) == [PacketDropped("session closed")]


def test_auth_without_username_carries_only_the_token() -> None:
    server = BtpSession(Role.SERVER, ManualClock(T0))
    raw = bytes.fromhex(btp_vector("BTP auth Message with only an empty auth_token")["hex"])
    assert server.receive(raw) == [AuthRequested(1, None, "")]


def test_client_learns_refusal_and_closes() -> None:
    clock = ManualClock(T0)
    client = BtpSession(Role.CLIENT, clock, first_request_id=7)
    server = BtpSession(Role.SERVER, clock)
    client.authenticate("wrong")
    deliver(client, server)
    server.reject_auth("invalid auth_token")
    events = deliver(server, client)
    assert events == [AuthFailed("F00 NotAcceptedError: invalid auth_token")]
    assert client.state is SessionState.CLOSED
    with pytest.raises(SessionStateError):
        client.send_prepare(prepare())


@pytest.mark.parametrize(
    ("first", "answered"),
    [
        pytest.param(ilp_message(5, prepare().encode()), True, id="ilp-message"),
        pytest.param(Transfer(5, 100), True, id="transfer"),
        pytest.param(Message(5, (ProtocolData.octets("auth", b""),)), True, id="no-token"),
        pytest.param(Response(5), False, id="a-response"),
    ],
)
def test_server_refuses_a_first_packet_that_is_not_auth(first: Any, answered: bool) -> None:
    server = BtpSession(Role.SERVER, ManualClock(T0))
    [event] = server.receive(first.encode())
    assert isinstance(event, AuthFailed)
    assert server.state is SessionState.CLOSED
    frames = server.data_to_send()
    if not answered:
        assert frames == []
        return
    [frame] = frames
    error = decode_btp(frame)
    assert isinstance(error, Error)
    assert (error.request_id, error.code, error.name) == (5, "F00", "NotAcceptedError")
    assert error.triggered_at == T0


def test_server_refuses_unreadable_first_packet() -> None:
    server = BtpSession(Role.SERVER, ManualClock(T0))
    [event] = server.receive(bytes.fromhex("0600000009ff"))
    assert isinstance(event, AuthFailed)
    error = only_frame(server)
    assert isinstance(error, Error)
    assert error.request_id == 9
    assert error.code == "F00"


def test_requests_before_auth_completes_are_refused_not_served() -> None:
    clock = ManualClock(T0)
    server = BtpSession(Role.SERVER, clock)
    server.receive(auth_message(1, "tok").encode())
    # still deciding: a second request gets F00
    [dropped] = server.receive(ilp_message(2, prepare().encode()).encode())
    assert isinstance(dropped, PacketDropped)
    error = only_frame(server)
    assert isinstance(error, Error)
    assert (error.request_id, error.code) == (2, "F00")
    # a client waiting for its auth answer refuses the server's requests too
    client = BtpSession(Role.CLIENT, clock, first_request_id=1)
    client.authenticate("tok")
    client.data_to_send()
    client.receive(ilp_message(3, prepare().encode()).encode())
    error = only_frame(client)
    assert isinstance(error, Error)
    assert (error.request_id, error.code) == (3, "F00")
    assert client.state is SessionState.AUTHENTICATING


def test_auth_on_an_open_session_is_refused() -> None:
    _client, server = open_pair(ManualClock(T0))
    [event] = server.receive(auth_message(77, "tok").encode())
    assert isinstance(event, PacketDropped)
    error = only_frame(server)
    assert isinstance(error, Error)
    assert (error.request_id, error.code) == (77, "F00")
    assert server.is_open


def test_accept_without_a_request_is_a_local_error() -> None:
    server = BtpSession(Role.SERVER, ManualClock(T0))
    with pytest.raises(SessionStateError):
        server.accept_auth()
    with pytest.raises(SessionStateError):
        server.reject_auth("no")


# ---- request ids ----------------------------------------------------------------------


def test_request_ids_wrap_at_uint32_and_skip_ids_in_flight() -> None:
    clock = ManualClock(T0)
    client = BtpSession(Role.CLIENT, clock, first_request_id=0xFFFFFFFE)
    server = BtpSession(Role.SERVER, clock)
    assert client.authenticate("tok") == 0xFFFFFFFE
    deliver(client, server)
    server.accept_auth()
    deliver(server, client)
    ids = [client.send_prepare(prepare(i)) for i in range(3)]
    assert ids == [0xFFFFFFFF, 0, 1]
    # a full lap of 2**32 ids is too long to run: move the counter back by hand
    client._next_id = 0xFFFFFFFF
    assert client.send_prepare(prepare(3)) == 2  # 0xFFFFFFFF, 0 and 1 are still in flight
    client.forget(0)
    client._next_id = 0xFFFFFFFF
    assert client.send_prepare(prepare(4)) == 0
    assert client.outstanding == 4


def test_first_request_id_must_be_uint32() -> None:
    with pytest.raises(ValueError, match="uint32"):
        BtpSession(Role.CLIENT, ManualClock(T0), first_request_id=1 << 32)


# ---- ILP over BTP -----------------------------------------------------------------


def test_incoming_prepare_and_its_answer_match_the_reference_bytes() -> None:
    clock = ManualClock(T0)
    _client, server = open_pair(clock)
    request = btp_vector("BTP Message carrying an ILP Prepare")
    [event] = server.receive(bytes.fromhex(request["hex"]))
    assert isinstance(event, IncomingPrepare)
    assert event.request_id == 42
    ilp = bytes.fromhex(request["fields"]["protocolData"][0]["data"])
    assert event.prepare == Prepare.decode(ilp)
    response = btp_vector("BTP Response carrying the ILP Fulfill for requestId 42")
    fulfill = Fulfill.decode(bytes.fromhex(response["fields"]["protocolData"][0]["data"]))
    server.respond_ilp(42, fulfill)
    assert server.data_to_send() == [bytes.fromhex(response["hex"])]


def test_many_concurrent_prepares_answered_out_of_order_match_their_requests() -> None:
    clock = ManualClock(T0)
    client, server = open_pair(clock)
    sent = {client.send_prepare(prepare(i)): prepare(i) for i in range(200)}
    incoming = deliver(client, server)
    assert len(incoming) == 200
    for event in reversed(incoming):
        assert isinstance(event, IncomingPrepare)
        p = event.prepare
        reply = fulfill_for(p) if p.amount % 2 == 0 else Reject("F99", "", "no", p.data)
        server.respond_ilp(event.request_id, reply)
    answers = deliver(server, client)
    assert len(answers) == 200
    assert client.outstanding == 0
    for answer in answers:
        assert isinstance(answer, ResponseReceived)
        assert isinstance(answer.packet, Fulfill)
        assert answer.packet == fulfill_for(sent[answer.request_id])


def test_a_reject_travels_inside_a_response() -> None:
    client, server = open_pair(ManualClock(T0))
    rid = client.send_prepare(prepare())
    [event] = deliver(client, server)
    assert isinstance(event, IncomingPrepare)
    reject = Reject("F02", "test.conn", "no route", b"")
    server.respond_ilp(event.request_id, reject)
    assert deliver(server, client) == [ResponseReceived(rid, (), reject)]


def test_unmatched_and_repeated_responses_are_dropped_silently() -> None:
    client, server = open_pair(ManualClock(T0))
    rid = client.send_prepare(prepare())
    deliver(client, server)
    server.respond_ilp(rid, fulfill_for(prepare()))
    frame = server.data_to_send()[0]
    assert isinstance(client.receive(frame)[0], ResponseReceived)
    [again] = client.receive(frame)
    assert isinstance(again, PacketDropped)
    [stray] = client.receive(Error(12345, "F00", "x", T0).encode())
    assert isinstance(stray, PacketDropped)
    assert client.data_to_send() == []


def test_forgotten_request_drops_its_late_answer() -> None:
    client, server = open_pair(ManualClock(T0))
    rid = client.send_prepare(prepare())
    deliver(client, server)
    client.forget(rid)
    server.respond_ilp(rid, fulfill_for(prepare()))
    [event] = deliver(server, client)
    assert isinstance(event, PacketDropped)


def test_btp_error_to_our_request_fails_it() -> None:
    client, _server = open_pair(ManualClock(T0))
    rid = client.send_prepare(prepare())
    error = Error(rid, "T00", "UnreachableError", T0, b'{"message":"busy"}')
    assert client.receive(error.encode()) == [
        RequestFailed(rid, "T00", "UnreachableError", '{"message":"busy"}')
    ]


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param((), id="no-ilp-entry"),
        pytest.param((ProtocolData.octets("ilp", b"\x0c\x01"),), id="garbled-ilp"),
        pytest.param((ProtocolData.octets("ilp", prepare().encode()),), id="prepare-as-reply"),
    ],
)
def test_unusable_answer_to_a_prepare_fails_it(entries: tuple[ProtocolData, ...]) -> None:
    client, _server = open_pair(ManualClock(T0))
    rid = client.send_prepare(prepare())
    [event] = client.receive(Response(rid, entries).encode())
    assert isinstance(event, RequestFailed)
    assert event.request_id == rid
    assert event.code == "F01"


# ---- malformed input --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("0600000011050102", "F01", id="truncated-message"),
        pytest.param("0900000011020100", "F01", id="unknown-type"),
        pytest.param(
            ilp_message(0x11, b"\x0c\x05abc").encode().hex(), "F01", id="invalid-ilp-prepare"
        ),
        pytest.param(
            ilp_message(0x11, Fulfill(bytes(32)).encode()).encode().hex(),
            "F01",
            id="fulfill-in-a-request",
        ),
        pytest.param(ilp_message(0x11, b"").encode().hex(), "F01", id="empty-ilp"),
        pytest.param(LegacyReject(0x11, UUID(int=7)).encode().hex(), "F00", id="legacy-reject"),
    ],
)
def test_malformed_request_gets_an_error_with_its_id_and_session_stays_open(
    raw: str, code: str
) -> None:
    client, server = open_pair(ManualClock(T0))
    [event] = server.receive(bytes.fromhex(raw))
    assert isinstance(event, PacketDropped)
    error = only_frame(server)
    assert isinstance(error, Error)
    assert (error.request_id, error.code) == (0x11, code)
    assert error.name == BtpErrorCode(code).error_name
    assert server.is_open
    # and the session still works
    rid = client.send_prepare(prepare())
    assert isinstance(deliver(client, server)[0], IncomingPrepare)
    assert rid >= 1


@pytest.mark.parametrize("raw", ["", "06", "060000", "0100000001ff", "02000000010a"])
def test_unreadable_responses_and_stubs_get_no_answer(raw: str) -> None:
    _client, server = open_pair(ManualClock(T0))
    [event] = server.receive(bytes.fromhex(raw))
    assert isinstance(event, PacketDropped)
    assert server.data_to_send() == []
    assert server.is_open


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_never_raises_and_only_ever_gets_errors(raw: bytes) -> None:
    _client, server = open_pair(ManualClock(T0))
    events = server.receive(raw)
    assert len(events) == 1
    for frame in server.data_to_send():
        answer = decode_btp(frame)
        assert isinstance(answer, Error)
        assert raw[0] not in (BtpType.RESPONSE, BtpType.ERROR)
    assert server.is_open


# ---- transfers and side protocols ------------------------------------------------------


def test_transfer_round_trip() -> None:
    client, server = open_pair(ManualClock(T0))
    claim = (ProtocolData("claim", ContentType.JSON, b'{"amount":"5"}'),)
    rid = client.send_transfer(5, claim)
    assert deliver(client, server) == [TransferReceived(rid, 5, claim)]
    server.respond(rid)
    assert deliver(server, client) == [ResponseReceived(rid, ())]
    # refused
    rid = client.send_transfer(6)
    deliver(client, server)
    server.respond_error(rid, BtpErrorCode.F00_NOT_ACCEPTED, "bad claim")
    assert deliver(server, client) == [RequestFailed(rid, "F00", "NotAcceptedError", "bad claim")]


def test_transfer_amount_is_checked_before_an_id_is_taken() -> None:
    client, _server = open_pair(ManualClock(T0))
    with pytest.raises(ValueError, match="amount"):
        client.send_transfer(-1)
    assert client.outstanding == 0
    assert client.data_to_send() == []


def test_side_protocol_message_is_handed_up() -> None:
    client, server = open_pair(ManualClock(T0))
    info = (ProtocolData.text("info", "hello"),)
    rid = client.send_message(info)
    assert deliver(client, server) == [MessageReceived(rid, info)]
    server.respond(rid, (ProtocolData.text("info", "hi"),))
    assert deliver(server, client) == [ResponseReceived(rid, (ProtocolData.text("info", "hi"),))]


def test_error_triggered_at_comes_from_the_clock() -> None:
    clock = ManualClock(T0)
    _client, server = open_pair(clock)
    clock.advance(90.5)
    server.respond_error(3, BtpErrorCode.T00_UNREACHABLE, "later")
    error = only_frame(server)
    assert isinstance(error, Error)
    assert error.triggered_at == T0 + timedelta(seconds=90.5)
    assert error.data == b"later"


# ---- the hot path agrees with the codec ---------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 65535, 65536, 70000])
@pytest.mark.parametrize("kind", [BtpType.MESSAGE, BtpType.RESPONSE])
def test_ilp_frame_is_the_codec_bytes(kind: BtpType, size: int) -> None:
    ilp = bytes(i % 251 for i in range(size))
    frame = ilp_frame(kind, 0xDEADBEEF, ilp)
    codec = ilp_message if kind is BtpType.MESSAGE else ilp_response
    assert frame == codec(0xDEADBEEF, ilp).encode()
    assert read_ilp_frame(frame) == (kind, 0xDEADBEEF, ilp)


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from([BtpType.MESSAGE, BtpType.RESPONSE]),
    ilp=st.binary(max_size=300),
    data=st.data(),
)
def test_hot_path_reads_a_frame_only_as_the_codec_does(
    kind: BtpType, ilp: bytes, data: st.DataObject
) -> None:
    raw = bytearray(ilp_frame(kind, 7, ilp))
    edit = data.draw(st.sampled_from(["flip", "cut", "grow"]))
    i = data.draw(st.integers(0, len(raw) - 1))
    if edit == "flip":
        raw[i] = data.draw(st.integers(0, 255))
    elif edit == "cut":
        del raw[i:]
    else:
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=3))
    fast = read_ilp_frame(bytes(raw))
    if fast is None:
        return
    packet = decode_btp(bytes(raw))
    assert isinstance(packet, Message | Response)
    assert (packet.TYPE, packet.request_id) == fast[:2]
    assert packet.protocol_data == (ProtocolData.octets("ilp", fast[2]),)


def test_frames_outside_the_hot_path_are_read_the_same() -> None:
    client, server = open_pair(ManualClock(T0))
    p = prepare(3)
    # an ilp entry followed by a secondary entry goes through the full decoder
    two = Message(0x99, (ProtocolData.octets("ilp", p.encode()), ProtocolData.text("note", "x")))
    assert read_ilp_frame(two.encode()) is None
    assert server.receive(two.encode()) == [IncomingPrepare(0x99, p)]
    rid = client.send_prepare(p)
    reply = fulfill_for(p)
    answer = Response(rid, (ProtocolData.octets("ilp", reply.encode()), ProtocolData.text("n", "")))
    assert client.receive(answer.encode()) == [
        ResponseReceived(rid, (ProtocolData.text("n", ""),), reply)
    ]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(["server-new", "server-deciding", "client-new"]))
def test_garbage_in_any_state_never_raises(raw: bytes, state: str) -> None:
    clock = ManualClock(T0)
    if state.startswith("server"):
        session = BtpSession(Role.SERVER, clock)
        if state == "server-deciding":
            session.receive(auth_message(1, "tok").encode())
    else:
        session = BtpSession(Role.CLIENT, clock, first_request_id=1)
        session.authenticate("tok")
        session.data_to_send()
    events = session.receive(raw)
    assert len(events) == 1
    for frame in session.data_to_send():
        assert isinstance(decode_btp(frame), Error)
