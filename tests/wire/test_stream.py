"""STREAM packets and frames against the shared vectors, edge cases and property tests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.oer import UINT64_MAX
from ilpnet.wire.stream import (
    ConnectionAssetDetails,
    ConnectionClose,
    ConnectionDataBlocked,
    ConnectionMaxData,
    ConnectionMaxStreamId,
    ConnectionNewAddress,
    ConnectionStreamIdBlocked,
    Frame,
    FrameType,
    IlpPacketType,
    StreamClose,
    StreamData,
    StreamDataBlocked,
    StreamErrorCode,
    StreamMaxData,
    StreamMaxMoney,
    StreamMoney,
    StreamMoneyBlocked,
    StreamPacket,
    StreamReceipt,
)
from ilpnet.wire.stream_frames import FRAME_CLASSES
from tests.spec_vectors import Vector, load_vectors

# ---- vectors ------------------------------------------------------------------------------

_TEXT = {"errorMessage", "sourceAccount", "sourceAssetCode"}
_UINT8 = {"errorCode", "sourceAssetScale"}
_BYTES = {"data", "receipt"}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def frame_from(fields: dict[str, Any]) -> Frame:
    """A frame from its vector fields (reference-implementation names, §6)."""
    cls = FRAME_CLASSES[fields["type"]]
    assert cls.__name__ == fields["name"], "vector frame name and type disagree"
    kwargs: dict[str, object] = {}
    for key, value in fields.items():
        if key in ("type", "name"):
            continue
        if key in _TEXT:
            kwargs[_snake(key)] = value
        elif key in _UINT8:
            kwargs[_snake(key)] = int(value)
        elif key in _BYTES:
            kwargs[_snake(key)] = bytes.fromhex(value)
        else:  # every other frame field is a VarUInt, a decimal string in the vectors
            assert isinstance(value, str)
            kwargs[_snake(key)] = int(value)
    return cls(**kwargs)  # type: ignore[arg-type]


def packet_from(fields: dict[str, Any]) -> StreamPacket:
    return StreamPacket(
        ilp_packet_type=fields["ilpPacketType"],
        sequence=int(fields["sequence"]),
        prepare_amount=int(fields["prepareAmount"]),
        frames=tuple(frame_from(f) for f in fields["frames"]),
        version=fields["version"],
    )


@pytest.mark.parametrize("v", load_vectors("stream_packets.json"))
def test_stream_packet_vector(v: Vector) -> None:
    raw = bytes.fromhex(v["hex"])
    if v.get("expect_error"):
        with pytest.raises(DecodeError):
            StreamPacket.decode(raw)
        return
    want = packet_from(v["fields"])
    got = StreamPacket.decode(raw)
    assert got == want
    assert [f.TYPE for f in got.frames] == [f["type"] for f in v["fields"]["frames"]]
    if not v.get("decode_only"):
        assert want.encode() == raw


# ---- decoding rules -------------------------------------------------------------------

HEADER = bytes.fromhex("010c01000100")  # version 1, Prepare, sequence 0, amount 0


def _one_frame(frame_type: int, content: bytes) -> bytes:
    return HEADER + bytes((1, 1, frame_type, len(content))) + content


def test_smallest_packet() -> None:
    assert StreamPacket(IlpPacketType.PREPARE, 0, 0).encode() == bytes.fromhex("010c010001000100")


def test_frames_given_as_a_list_become_a_tuple() -> None:
    packet = StreamPacket(IlpPacketType.FULFILL, 1, 2, [StreamMoney(1, 1)])  # type: ignore[arg-type]
    assert packet.frames == (StreamMoney(1, 1),)
    assert hash(packet) == hash(StreamPacket(IlpPacketType.FULFILL, 1, 2, (StreamMoney(1, 1),)))


def test_decoded_types_are_enums_where_known() -> None:
    packet = StreamPacket.decode(_one_frame(0x10, bytes.fromhex("0101") + b"\x06\x00"))
    assert packet.ilp_packet_type is IlpPacketType.PREPARE
    assert packet.frames == (StreamClose(1, StreamErrorCode.STREAM_STATE_ERROR, ""),)
    close = packet.frames[0]
    assert isinstance(close, StreamClose)
    assert close.error_code is StreamErrorCode.STREAM_STATE_ERROR
    unknown = StreamPacket.decode(_one_frame(0x01, b"\xfe\x00")).frames[0]
    assert isinstance(unknown, ConnectionClose)
    assert unknown.error_code == 254
    assert not isinstance(unknown.error_code, StreamErrorCode)


def test_unknown_frames_are_skipped_anywhere() -> None:
    money = bytes.fromhex("110401010101")
    raw = HEADER + bytes.fromhex("0103") + b"\x20\x00" + money + b"\xff\x02\xab\xcd"
    assert StreamPacket.decode(raw).frames == (StreamMoney(1, 1),)


def test_bytes_after_known_frame_fields_are_ignored() -> None:
    # StreamMoney content with two extra bytes a later version might add
    assert StreamPacket.decode(_one_frame(0x11, bytes.fromhex("01010102ffff"))).frames == (
        StreamMoney(1, 2),
    )


def test_saturation_only_for_receive_max_and_send_max() -> None:
    too_big = bytes.fromhex("09") + b"\x01" + bytes(8)
    content = b"\x01\x07" + too_big + b"\x01\x05"
    max_money = StreamPacket.decode(_one_frame(0x12, content))
    assert max_money.frames == (StreamMaxMoney(7, UINT64_MAX, 5),)
    blocked = StreamPacket.decode(_one_frame(0x13, content))
    assert blocked.frames == (StreamMoneyBlocked(7, UINT64_MAX, 5),)
    # a wide encoding of a small value is that value, not saturated
    wide_small = bytes.fromhex("0a") + bytes(8) + b"\x01\xc8"
    frame = StreamPacket.decode(_one_frame(0x12, b"\x01\x07" + wide_small + b"\x01\x05"))
    assert frame.frames == (StreamMaxMoney(7, 456, 5),)
    # other VarUInts may not be wider than 8 bytes
    with pytest.raises(DecodeError, match="totalReceived"):
        StreamPacket.decode(_one_frame(0x12, b"\x01\x07\x01\x00" + too_big))
    with pytest.raises(DecodeError, match="shares"):
        StreamPacket.decode(_one_frame(0x11, b"\x01\x07" + too_big))
    with pytest.raises(DecodeError, match="receiveMax: zero-length"):
        StreamPacket.decode(_one_frame(0x12, b"\x01\x07\x00\x01\x00"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "STREAM version"),
        (bytes.fromhex("020c010001000100"), "unsupported STREAM version 2"),
        (bytes.fromhex("010f010001000100"), "ilpPacketType must be 12, 13 or 14"),
        (bytes.fromhex("010c0000"), "sequence: zero-length"),
        (bytes.fromhex("010c01000100"), "frame count"),
        (bytes.fromhex("010c0100010001021104010101"), "frame content"),  # count 2, one frame
        (bytes.fromhex("010c010001000101"), "frame type"),  # count 1, no frame
        (bytes.fromhex("010c01000100010111030101"), "frame content"),  # length past end
        (bytes.fromhex("010c0100010001011102010101"), "StreamMoney.shares"),  # field past frame
        (bytes.fromhex("010c0100010001010203028080"), "not ASCII"),
        (bytes.fromhex("010c0100010001010103010180"), "not valid UTF-8"),
    ],
)
def test_malformed_packets(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        StreamPacket.decode(raw)


def test_huge_frame_count_fails_fast() -> None:
    raw = HEADER + bytes.fromhex("08ffffffffffffffff") + bytes.fromhex("110401010101")
    with pytest.raises(DecodeError, match="frame type"):
        StreamPacket.decode(raw)


# ---- construction checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: StreamPacket(11, 0, 0),
        lambda: StreamPacket(12, -1, 0),
        lambda: StreamPacket(12, 0, UINT64_MAX + 1),
        lambda: StreamPacket(12, 0, 0, version=2),
        lambda: StreamMoney(-1, 1),
        lambda: StreamMaxMoney(1, UINT64_MAX + 1, 0),
        lambda: StreamClose(1, 256, ""),
        lambda: ConnectionClose(-1),
        lambda: ConnectionAssetDetails("USD", 256),
        lambda: ConnectionNewAddress("test.bøb"),
    ],
)
def test_invalid_values_are_refused(build: Any) -> None:
    with pytest.raises(InvalidValueError):
        build()


def test_frame_types_match_the_spec_table() -> None:
    assert {t.value: FRAME_CLASSES[t.value].TYPE for t in FrameType} == {
        t.value: t for t in FrameType
    }
    assert [c.value for c in StreamErrorCode] == list(range(1, 10))


# ---- properties -------------------------------------------------------------------------

uint64 = st.integers(0, UINT64_MAX)
small = st.integers(0, 300)
uint8 = st.integers(0, 255)
text = st.text(max_size=20)
address = st.from_regex(r"[a-z]{1,5}(\.[a-zA-Z0-9_~-]{1,8}){0,3}", fullmatch=True)

frames: st.SearchStrategy[Frame] = st.one_of(
    st.builds(ConnectionClose, uint8, text),
    st.builds(ConnectionNewAddress, address),
    st.builds(ConnectionMaxData, uint64),
    st.builds(ConnectionDataBlocked, uint64),
    st.builds(ConnectionMaxStreamId, uint64),
    st.builds(ConnectionStreamIdBlocked, uint64),
    st.builds(ConnectionAssetDetails, text, uint8),
    st.builds(StreamClose, small, uint8, text),
    st.builds(StreamMoney, small, uint64),
    st.builds(StreamMaxMoney, small, uint64, uint64),
    st.builds(StreamMoneyBlocked, small, uint64, uint64),
    st.builds(StreamData, small, uint64, st.binary(max_size=300)),
    st.builds(StreamMaxData, small, uint64),
    st.builds(StreamDataBlocked, small, uint64),
    st.builds(StreamReceipt, small, st.binary(max_size=60)),
)

packets = st.builds(
    StreamPacket,
    st.sampled_from([12, 13, 14]),
    uint64,
    uint64,
    st.lists(frames, max_size=6).map(tuple),
)


@settings(max_examples=300)
@given(packets)
def test_packet_round_trip(packet: StreamPacket) -> None:
    decoded = StreamPacket.decode(packet.encode())
    assert decoded == packet
    assert hash(decoded) == hash(packet)


@settings(max_examples=100)
@given(packets, st.binary(max_size=40))
def test_trailing_junk_is_ignored(packet: StreamPacket, junk: bytes) -> None:
    assert StreamPacket.decode(packet.encode() + junk) == packet


def _decode_or_decode_error(raw: bytes) -> StreamPacket | None:
    try:
        packet = StreamPacket.decode(raw)
    except DecodeError:
        return None
    # whatever decodes must re-encode to a canonical form that decodes the same
    assert StreamPacket.decode(packet.encode()) == packet
    return packet


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_decode_error(raw: bytes) -> None:
    _decode_or_decode_error(raw)


@settings(max_examples=300)
@given(st.binary(max_size=60))
def test_random_bodies_after_a_valid_header_raise_only_decode_error(body: bytes) -> None:
    _decode_or_decode_error(HEADER + body)


@settings(max_examples=300)
@given(packets, st.data())
def test_mutated_packets_raise_only_decode_error(packet: StreamPacket, data: st.DataObject) -> None:
    raw = bytearray(packet.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["flip", "drop", "insert", "truncate"]))
        if op == "flip":
            raw[i] ^= data.draw(st.integers(1, 255))
        elif op == "drop" and len(raw) > 1:
            del raw[i]
        elif op == "insert":
            raw.insert(i, data.draw(uint8))
        else:
            del raw[i:]
            if not raw:
                break
    _decode_or_decode_error(bytes(raw))
