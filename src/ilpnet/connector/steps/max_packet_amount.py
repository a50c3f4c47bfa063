"""Max packet amount per account (spec 03 §2 step 3): F08 with received and maximum amount."""

from __future__ import annotations

from ilpnet.connector.errors import AmountTooLargeError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.packet import AmountTooLargeData, Fulfill, Reject


def max_packet_amount() -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        maximum = fwd.account.max_packet_amount
        amount = fwd.prepare.amount
        if maximum is not None and amount > maximum:
            raise AmountTooLargeError(
                f"exceeded maximum packet amount. received={amount} maximum={maximum}",
                AmountTooLargeData(amount, maximum).encode(),
            )
        return await next_(fwd)

    return step
