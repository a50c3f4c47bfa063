"""Refuse a Prepare that has already expired on arrival (R00)."""

from __future__ import annotations

from datetime import datetime

from ilpnet.clock import Clock
from ilpnet.connector.errors import TransferTimedOutError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.packet import Fulfill, Reject


def check_not_expired(expires_at: datetime, now: datetime) -> None:
    """R00 when the Prepare has expired by `now`."""
    if expires_at <= now:
        raise TransferTimedOutError(f"packet expired. expires_at={expires_at.isoformat()}")


def reject_expired(clock: Clock) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        check_not_expired(fwd.prepare.expires_at, clock.now())
        return await next_(fwd)

    return step
