"""Max packet amount per account (spec 03 §2 step 3): F08 with received and maximum amount."""

from __future__ import annotations

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import AmountTooLargeError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.packet import AmountTooLargeData, Fulfill, Reject


def check_packet_amount(account: AccountSettings, amount: int) -> None:
    """F08 when `amount` is above the account's maximum packet amount."""
    maximum = account.max_packet_amount
    if maximum is not None and amount > maximum:
        raise AmountTooLargeError(
            f"exceeded maximum packet amount. received={amount} maximum={maximum}",
            AmountTooLargeData(amount, maximum).encode(),
        )


def max_packet_amount() -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        check_packet_amount(fwd.account, fwd.prepare.amount)
        return await next_(fwd)

    return step
