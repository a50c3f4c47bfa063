"""STREAM packets (spec 07 §5): the plaintext that STREAM encrypts into ILP `data`.

    version UInt8 (1) || ilpPacketType UInt8 || sequence VarUInt || prepareAmount VarUInt
    || frame count VarUInt || frames || junk (ignored)

Frames are defined in `ilpnet.wire.stream_frames` and re-exported here. Encryption lives
in `ilpnet.crypto.stream_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum

from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.oer import UINT64_MAX, Reader, encode_length, encode_var_uint
from ilpnet.wire.stream_frames import (
    FRAME_CLASSES,
    ConnectionAssetDetails,
    ConnectionClose,
    ConnectionDataBlocked,
    ConnectionMaxData,
    ConnectionMaxStreamId,
    ConnectionNewAddress,
    ConnectionStreamIdBlocked,
    Frame,
    FrameType,
    StreamClose,
    StreamData,
    StreamDataBlocked,
    StreamErrorCode,
    StreamMaxData,
    StreamMaxMoney,
    StreamMoney,
    StreamMoneyBlocked,
    StreamReceipt,
    read_var_uint,
)

__all__ = [
    "STREAM_VERSION",
    "ConnectionAssetDetails",
    "ConnectionClose",
    "ConnectionDataBlocked",
    "ConnectionMaxData",
    "ConnectionMaxStreamId",
    "ConnectionNewAddress",
    "ConnectionStreamIdBlocked",
    "Frame",
    "FrameType",
    "IlpPacketType",
    "StreamClose",
    "StreamData",
    "StreamDataBlocked",
    "StreamErrorCode",
    "StreamMaxData",
    "StreamMaxMoney",
    "StreamMoney",
    "StreamMoneyBlocked",
    "StreamPacket",
    "StreamReceipt",
]

STREAM_VERSION = 1


class IlpPacketType(IntEnum):
    """The ILP packet a STREAM packet may travel in (its `ilpPacketType`)."""

    PREPARE = 12
    FULFILL = 13
    REJECT = 14


_PACKET_TYPES: dict[int, IlpPacketType] = {t.value: t for t in IlpPacketType}
_new = object.__new__


@dataclass(frozen=True, slots=True)
class StreamPacket:
    """One STREAM packet, before encryption.

    `prepare_amount` is the minimum the receiver should accept in a Prepare, and the
    amount that actually arrived in a Fulfill/Reject. A response echoes the sequence of
    the Prepare it answers.
    """

    ilp_packet_type: int
    sequence: int
    prepare_amount: int
    frames: tuple[Frame, ...] = ()
    version: int = field(default=STREAM_VERSION, kw_only=True)

    def __post_init__(self) -> None:
        if self.version != STREAM_VERSION:
            raise InvalidValueError(f"unsupported STREAM version {self.version}")
        if self.ilp_packet_type not in _PACKET_TYPES:
            raise InvalidValueError(
                f"ilp_packet_type must be 12, 13 or 14, got {self.ilp_packet_type}"
            )
        if not 0 <= self.sequence <= UINT64_MAX:
            raise InvalidValueError(f"sequence {self.sequence} is not a uint64")
        if not 0 <= self.prepare_amount <= UINT64_MAX:
            raise InvalidValueError(f"prepare_amount {self.prepare_amount} is not a uint64")
        if type(self.frames) is not tuple:  # accept any iterable, keep the packet hashable
            object.__setattr__(self, "frames", tuple(self.frames))

    def encode(self) -> bytes:
        parts = [
            bytes((self.version, self.ilp_packet_type)),
            encode_var_uint(self.sequence),
            encode_var_uint(self.prepare_amount),
            encode_var_uint(len(self.frames)),
        ]
        append = parts.append
        for frame in self.frames:
            content = frame.encode_content()
            append(bytes((frame.TYPE,)))
            append(encode_length(len(content)))
            append(content)
        return b"".join(parts)

    @classmethod
    def decode(cls, raw: bytes) -> StreamPacket:
        """Read a packet; frames of unknown type and bytes after the frames are skipped."""
        r = Reader(raw)
        version = r.read_uint8("STREAM version")
        if version != STREAM_VERSION:
            raise DecodeError(f"unsupported STREAM version {version}", 0)
        packet_type = _PACKET_TYPES.get(r.read_uint8("ilpPacketType"))
        if packet_type is None:
            raise DecodeError(f"ilpPacketType must be 12, 13 or 14, got {raw[1]}", 1)
        sequence = read_var_uint(r, "sequence")
        prepare_amount = read_var_uint(r, "prepareAmount")
        count = read_var_uint(r, "frame count")
        frames: list[Frame] = []
        end = r.end
        for _ in range(count):
            pos = r.pos
            if pos + 1 < end and raw[pos + 1] < 0x80:  # type byte, short-form length
                frame_type = raw[pos]
                start = pos + 2
                stop = start + raw[pos + 1]
                if stop > end:
                    r.read_uint8("frame type")
                    r.read_length("frame content")  # raises, naming the overrun
            else:  # long-form length, or an error to report precisely
                frame_type = r.read_uint8("frame type")
                size = r.read_length("frame content")
                start = r.pos
                stop = start + size
            frame_class = FRAME_CLASSES.get(frame_type)
            if frame_class is not None:
                # read the content in place, bounded by its length (no sub-reader)
                r.pos = start
                r.end = stop
                frames.append(frame_class.decode_content(r))
                r.end = end
            r.pos = stop
        return _new_packet(packet_type, sequence, prepare_amount, tuple(frames))


_set_type, _set_sequence, _set_amount, _set_frames, _set_version = (
    getattr(StreamPacket, f.name).__set__ for f in fields(StreamPacket)
)


def _new_packet(
    packet_type: IlpPacketType, sequence: int, prepare_amount: int, frames: tuple[Frame, ...]
) -> StreamPacket:
    """`StreamPacket(...)` minus the checks, for values `decode` has already read safely
    (writes the slots directly, as the frozen dataclass's own `__init__` does)."""
    packet = _new(StreamPacket)
    _set_type(packet, packet_type)
    _set_sequence(packet, sequence)
    _set_amount(packet, prepare_amount)
    _set_frames(packet, frames)
    _set_version(packet, STREAM_VERSION)
    return packet
