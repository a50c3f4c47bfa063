"""Move the outgoing expiry earlier (spec 03 §4): R02 when too little time is left."""

from __future__ import annotations

from datetime import datetime

from ilpnet.clock import Clock
from ilpnet.connector.errors import InsufficientTimeoutError
from ilpnet.connector.pipeline import ExpiryWindow, Forward, Handler, Step
from ilpnet.wire.packet import Fulfill, Reject


def usable_expiry(expires_at: datetime, now: datetime, window: ExpiryWindow) -> datetime | None:
    """`outgoing_expiry`, or None where it would refuse (R02)."""
    out = min(expires_at - window.min_message_window, now + window.max_hold_time)
    if out - now < window.min_message_window:
        return None
    return out


def outgoing_expiry(expires_at: datetime, now: datetime, window: ExpiryWindow) -> datetime:
    """The outgoing expiry of a Prepare expiring at `expires_at`; R02 when too little time
    is left."""
    out = usable_expiry(expires_at, now, window)
    if out is None:
        raise InsufficientTimeoutError(
            f"insufficient time to forward. expires_at={expires_at.isoformat()} "
            f"now={now.isoformat()}"
        )
    return out


def shorten_expiry(clock: Clock, window: ExpiryWindow) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        out = outgoing_expiry(fwd.prepare.expires_at, clock.now(), window)
        return await next_(fwd.with_out_expires_at(out))

    return step
