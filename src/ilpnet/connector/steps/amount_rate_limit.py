"""Per-account value throughput limit (spec 03 §2 step 4): T04 when the bucket is empty."""

from __future__ import annotations

from ilpnet.clock import Clock
from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.steps.rate_limit import TokenBucket
from ilpnet.wire.packet import Fulfill, Reject


def amount_rate_limit(clock: Clock) -> Step:
    buckets: dict[str, TokenBucket] = {}

    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        settings = fwd.account.amount_rate
        amount = fwd.prepare.amount
        if settings is not None and amount > 0:
            bucket = buckets.get(fwd.account.id)
            if bucket is None:
                bucket = buckets[fwd.account.id] = TokenBucket(settings, clock)
            if not bucket.take(amount):
                raise InsufficientLiquidityError(
                    f"exceeded money bandwidth. account={fwd.account.id} amount={amount} "
                    f"limit={settings.refill_per_second}/s"
                )
        return await next_(fwd)

    return step
