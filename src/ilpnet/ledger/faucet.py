"""The faucet's limits: a cap per request and sliding-window rate limits per account and
per client (remote address)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ilpnet.clock import Clock
from ilpnet.ledger.errors import FaucetLimit, RateLimited


@dataclass(frozen=True, slots=True)
class FaucetPolicy:
    max_amount: int
    per_account: int = 10
    per_client: int = 100
    window_seconds: float = 60.0


class RateLimiter:
    """At most `limit` hits per key in any `window` seconds (monotonic clock)."""

    def __init__(self, clock: Clock, limit: int, window: float) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._hits: dict[str, deque[float]] = {}

    def would_allow(self, key: str) -> bool:
        hits = self._hits.get(key)
        if hits is None:
            return self._limit > 0
        horizon = self._clock.monotonic() - self._window
        while hits and hits[0] <= horizon:
            hits.popleft()
        return len(hits) < self._limit

    def hit(self, key: str) -> None:
        self._hits.setdefault(key, deque()).append(self._clock.monotonic())


class Faucet:
    """Decides whether a faucet request may go ahead; raises the error saying why not."""

    def __init__(self, policy: FaucetPolicy, clock: Clock) -> None:
        self.policy = policy
        self._accounts = RateLimiter(clock, policy.per_account, policy.window_seconds)
        self._clients = RateLimiter(clock, policy.per_client, policy.window_seconds)

    def admit(self, account: str, client: str, amount: int) -> None:
        if amount > self.policy.max_amount:
            raise FaucetLimit(f"faucet gives at most {self.policy.max_amount} per request")
        if not self._accounts.would_allow(account):
            raise RateLimited(
                f"account {account!r} used the faucet {self.policy.per_account} times "
                f"in {self.policy.window_seconds:g} s"
            )
        if not self._clients.would_allow(client):
            raise RateLimited(
                f"client {client} used the faucet {self.policy.per_client} times "
                f"in {self.policy.window_seconds:g} s"
            )
        self._accounts.hit(account)
        self._clients.hit(client)
