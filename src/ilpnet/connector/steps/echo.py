"""Echo / ping (spec 03 §8, a reference-connector feature).

A Prepare to the connector's own address whose data is ``ECHOECHOECHOECHO`` ‖ 0x00 ‖
VarOctetString(source address) is turned around: the rest of the pipeline forwards a new
Prepare to that source with the same amount, condition and expiry and data
``ECHOECHOECHOECHO`` ‖ 0x01; the pinger fulfils it. Echo data that is too short or of an
unknown type is F01.
"""

from __future__ import annotations

from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.address import validate_address
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.oer import Reader
from ilpnet.wire.packet import Fulfill, Reject

ECHO_PREFIX = b"ECHOECHOECHOECHO"
ECHO_REQUEST = 0
ECHO_RESPONSE = 1


def echo(address: str) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        prepare = fwd.prepare
        if prepare.destination != address or not prepare.data.startswith(ECHO_PREFIX):
            return await next_(fwd)
        data = prepare.data
        if len(data) < len(ECHO_PREFIX) + 1 or data[len(ECHO_PREFIX)] != ECHO_REQUEST:
            raise IlpError(ErrorCode.F01_INVALID_PACKET, "unexpected echo packet.")
        reader = Reader(data, len(ECHO_PREFIX) + 1)
        source = validate_address(reader.read_ascii("echo source address"))
        back = prepare.with_changes(destination=source, data=ECHO_PREFIX + bytes((ECHO_RESPONSE,)))
        return await next_(
            Forward(fwd.packet_id, fwd.account, back, fwd.received_at, facts=fwd.facts)
        )

    return step
