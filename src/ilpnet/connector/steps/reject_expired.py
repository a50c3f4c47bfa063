"""Refuse a Prepare that has already expired on arrival (R00)."""

from __future__ import annotations

from ilpnet.clock import Clock
from ilpnet.connector.errors import TransferTimedOutError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.packet import Fulfill, Reject


def reject_expired(clock: Clock) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        expires_at = fwd.prepare.expires_at
        if expires_at <= clock.now():
            raise TransferTimedOutError(f"packet expired. expires_at={expires_at.isoformat()}")
        return await next_(fwd)

    return step
