from __future__ import annotations

from datetime import timedelta

import pytest

from ilpnet.clock import ManualClock
from ilpnet.connector.errors import InsufficientTimeoutError
from ilpnet.connector.pipeline import ExpiryWindow
from ilpnet.connector.steps.shorten_expiry import shorten_expiry
from tests.connector.steps.forwards import NOW, forward, fulfilled


async def test_takes_one_window_off() -> None:
    step, rest = shorten_expiry(ManualClock(NOW), ExpiryWindow()), fulfilled()
    await step(forward(expires_in=10), rest)
    assert rest.seen[0].out_expires_at == NOW + timedelta(seconds=9)


async def test_never_holds_longer_than_max_hold_time() -> None:
    step, rest = shorten_expiry(ManualClock(NOW), ExpiryWindow()), fulfilled()
    await step(forward(expires_in=120), rest)
    assert rest.seen[0].out_expires_at == NOW + timedelta(seconds=30)


@pytest.mark.parametrize("seconds", [1.999, 1, 0.5, -3])
async def test_r02_below_two_windows(seconds: float) -> None:
    step, rest = shorten_expiry(ManualClock(NOW), ExpiryWindow()), fulfilled()
    with pytest.raises(InsufficientTimeoutError):
        await step(forward(expires_in=seconds), rest)
    assert rest.seen == []


async def test_exactly_two_windows_passes() -> None:
    step, rest = shorten_expiry(ManualClock(NOW), ExpiryWindow()), fulfilled()
    await step(forward(expires_in=2), rest)
    assert rest.seen[0].out_expires_at == NOW + timedelta(seconds=1)
