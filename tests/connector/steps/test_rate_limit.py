from __future__ import annotations

import pytest

from ilpnet.clock import ManualClock
from ilpnet.connector.accounts import TokenBucketSettings
from ilpnet.connector.errors import InsufficientLiquidityError, RateLimitedError
from ilpnet.connector.steps.amount_rate_limit import amount_rate_limit
from ilpnet.connector.steps.rate_limit import TokenBucket, packet_rate_limit
from tests.connector.steps.forwards import forward, fulfilled, settings


def test_token_bucket_refills_by_the_clock() -> None:
    clock = ManualClock()
    bucket = TokenBucket(TokenBucketSettings(refill_per_second=10, capacity=5), clock)
    assert all(bucket.take(1) for _ in range(5))
    assert not bucket.take(1)
    clock.advance(0.1)
    assert bucket.take(1)
    assert not bucket.take(1)
    clock.advance(100)
    assert not bucket.take(6)  # never above capacity
    assert bucket.take(5)


async def test_packet_rate_t05_per_account() -> None:
    clock = ManualClock()
    step, rest = packet_rate_limit(clock), fulfilled()
    limited = settings(packet_rate={"refill_per_second": 1, "capacity": 1})
    await step(forward(account=limited), rest)
    with pytest.raises(RateLimitedError):
        await step(forward(account=limited), rest)
    await step(forward(account=settings("other", packet_rate=limited.packet_rate)), rest)
    await step(forward(account=settings("free")), rest)
    assert len(rest.seen) == 3


async def test_amount_rate_t04() -> None:
    clock = ManualClock()
    step, rest = amount_rate_limit(clock), fulfilled()
    limited = settings(amount_rate={"refill_per_second": 100, "capacity": 100})
    await step(forward(60, account=limited), rest)
    with pytest.raises(InsufficientLiquidityError):
        await step(forward(60, account=limited), rest)
    await step(forward(0, account=limited), rest)  # zero amounts never count
    clock.advance(0.2)
    await step(forward(60, account=limited), rest)
    assert len(rest.seen) == 3
