"""Describe packets with a STREAM shared secret: decrypt the STREAM packet in the data of
every end-to-end ILP packet (also inside BTP) and check a Prepare's condition."""

from __future__ import annotations

from ilpnet.crypto.stream_keys import StreamCrypto, StreamDecryptError
from ilpnet.wire.describe import (
    Description,
    IlpInspector,
    JsonObject,
    describe,
    stream_packet_fields,
)
from ilpnet.wire.packet import FULFILL, PREPARE, REJECT, Fulfill, IlpPacket, Prepare, Reject

_CARRIER_TYPE: dict[type[IlpPacket], int] = {Prepare: PREPARE, Fulfill: FULFILL, Reject: REJECT}


def stream_inspector(shared_secret: bytes) -> IlpInspector:
    """Fields to add to an ILP packet: `stream` (the decrypted packet) or `streamError`,
    and for a Prepare the derived `streamFulfillment` and whether the condition matches."""
    crypto = StreamCrypto(shared_secret)

    def inspect(packet: IlpPacket) -> JsonObject:
        out: JsonObject = {}
        if not packet.data:
            out["streamError"] = "no data: nothing to decrypt"
            return out
        if isinstance(packet, Prepare):
            fulfillment = crypto.fulfillment(packet.data)
            out["streamFulfillment"] = fulfillment.hex()
            out["streamConditionMatches"] = (
                crypto.condition(packet.data) == packet.execution_condition
            )
        try:
            stream = crypto.open(packet.data)
        except StreamDecryptError as exc:
            out["streamError"] = exc.message
            return out
        out["stream"] = stream_packet_fields(stream)
        carrier = _CARRIER_TYPE[type(packet)]
        if int(stream.ilp_packet_type) != carrier:
            out["streamWarning"] = (
                f"the STREAM packet says it travels in ILP type {int(stream.ilp_packet_type)}, "
                f"but it is in type {carrier}"
            )
        return out

    return inspect


def describe_with_secret(raw: bytes, shared_secret: bytes) -> Description:
    """`describe(raw)`, decrypting STREAM packets with `shared_secret`."""
    return describe(raw, inspect=stream_inspector(shared_secret))
