"""Per-account value throughput limit (spec 03 §2 step 4): T04 when the bucket is empty."""

from __future__ import annotations

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.steps.rate_limit import Buckets, TokenBucket
from ilpnet.wire.packet import Fulfill, Reject


def take_amount(buckets: Buckets, clock: Clock, account: AccountSettings, amount: int) -> None:
    """Count `amount` against the account's money bandwidth; T04 when the bucket is short."""
    settings = account.amount_rate
    if settings is not None and amount > 0:
        bucket = buckets.get(account.id)
        if bucket is None:
            bucket = buckets[account.id] = TokenBucket(settings, clock)
        if not bucket.take(amount):
            raise InsufficientLiquidityError(
                f"exceeded money bandwidth. account={account.id} amount={amount} "
                f"limit={settings.refill_per_second}/s"
            )


def amount_rate_limit(clock: Clock, buckets: Buckets | None = None) -> Step:
    """The step; `buckets` may be shared with another path that counts the same packets."""
    state: Buckets = {} if buckets is None else buckets

    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        take_amount(state, clock, fwd.account, fwd.prepare.amount)
        return await next_(fwd)

    return step
