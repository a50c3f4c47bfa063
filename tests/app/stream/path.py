"""A small test path between a STREAM sender and receiver: two real memory link pairs with
a relay in the middle that converts amounts at a rate (rounding down), enforces a maximum
packet amount (F08 with its data) and a liquidity limit on money in flight (T04)."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from math import floor

from ilpnet.clock import Clock
from ilpnet.links.base import IncomingHandler
from ilpnet.links.memory import MemoryLink, memory_link_pair
from ilpnet.wire.errors import ErrorCode
from ilpnet.wire.packet import AmountTooLargeData, Fulfill, Prepare, Reject

RELAY = "test.relay"


class Relay:
    """sender_link ─ relay ─ receiver_link; `receiver_link.set_handler(...)` at the far end."""

    def __init__(
        self,
        clock: Clock,
        *,
        rate: Fraction = Fraction(1),
        max_packet: int | None = None,
        liquidity: int | None = None,
    ) -> None:
        self.rate = rate
        self.max_packet = max_packet
        self.liquidity = liquidity
        self.in_flight = 0
        self.in_flight_packets = 0
        self.max_in_flight_packets = 0
        self.codes: list[str] = []
        self.forwarded = 0
        self.sender_link, self._in = memory_link_pair("relay", "sender", clock, b_address=RELAY)
        self._out, self.receiver_link = memory_link_pair(
            "receiver", "relay", clock, a_address=RELAY
        )
        self._in.set_handler(self._handle)

    def serve(self, handler: IncomingHandler) -> None:
        self.receiver_link.set_handler(handler)

    def links(self) -> tuple[MemoryLink, MemoryLink]:
        return self.sender_link, self.receiver_link

    def _reject(self, code: ErrorCode, message: str, data: bytes = b"") -> Reject:
        self.codes.append(code.value)
        return Reject(code.value, RELAY, message, data)

    async def _handle(self, prepare: Prepare) -> Fulfill | Reject:
        amount = prepare.amount
        if self.max_packet is not None and amount > self.max_packet:
            data = AmountTooLargeData(amount, self.max_packet).encode()
            return self._reject(ErrorCode.F08_AMOUNT_TOO_LARGE, "too large", data)
        if self.liquidity is not None and self.in_flight + amount > self.liquidity:
            return self._reject(ErrorCode.T04_INSUFFICIENT_LIQUIDITY, "no liquidity")
        self.in_flight += amount
        self.in_flight_packets += 1
        self.max_in_flight_packets = max(self.max_in_flight_packets, self.in_flight_packets)
        try:
            await asyncio.sleep(0)  # let other packets in, as a network hop would
            out = prepare.with_changes(amount=floor(amount * self.rate))
            reply = await self._out.send(out)
        finally:
            self.in_flight -= amount
            self.in_flight_packets -= 1
        if isinstance(reply, Fulfill):
            self.forwarded += amount
        else:
            self.codes.append(reply.code)
        return reply

    async def close(self) -> None:
        for link in (self.sender_link, self._in, self._out, self.receiver_link):
            await link.close()
