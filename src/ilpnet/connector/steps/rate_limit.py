"""Per-account packet rate limit (spec 03 §2 step 2): T05 when the bucket is empty."""

from __future__ import annotations

from fractions import Fraction

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings, TokenBucketSettings
from ilpnet.connector.errors import RateLimitedError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.packet import Fulfill, Reject


class TokenBucket:
    """Holds up to `capacity` tokens, refilled continuously by the clock; exact arithmetic."""

    __slots__ = ("_clock", "_last", "_tokens", "capacity", "refill_per_second")

    def __init__(self, settings: TokenBucketSettings, clock: Clock) -> None:
        self.capacity = settings.capacity
        self.refill_per_second = settings.refill_per_second
        self._clock = clock
        self._tokens = Fraction(settings.capacity)
        self._last = clock.monotonic()

    def take(self, amount: int) -> bool:
        """Take `amount` tokens if there are that many; False (taking none) otherwise."""
        now = self._clock.monotonic()
        if now > self._last:
            refill = Fraction(now) - Fraction(self._last)
            self._tokens = min(
                Fraction(self.capacity), self._tokens + refill * self.refill_per_second
            )
            self._last = now
        if amount > self._tokens:
            return False
        self._tokens -= amount
        return True


Buckets = dict[str, TokenBucket]
"""Token buckets by account id (made on an account's first packet)."""


def take_packet(buckets: Buckets, clock: Clock, account: AccountSettings) -> None:
    """Count one packet against the account's packet rate; T05 when the bucket is empty."""
    settings = account.packet_rate
    if settings is not None:
        bucket = buckets.get(account.id)
        if bucket is None:
            bucket = buckets[account.id] = TokenBucket(settings, clock)
        if not bucket.take(1):
            raise RateLimitedError(
                f"too many packets. account={account.id} limit={settings.refill_per_second}/s"
            )


def packet_rate_limit(clock: Clock, buckets: Buckets | None = None) -> Step:
    """The step; `buckets` may be shared with another path that counts the same packets."""
    state: Buckets = {} if buckets is None else buckets

    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        take_packet(state, clock, fwd.account)
        return await next_(fwd)

    return step
