from __future__ import annotations

import pytest

from ilpnet.clock import ManualClock
from ilpnet.connector.errors import TransferTimedOutError
from ilpnet.connector.steps.reject_expired import reject_expired
from tests.connector.steps.forwards import NOW, forward, fulfilled


async def test_r00_when_expired_on_arrival() -> None:
    rest = fulfilled()
    with pytest.raises(TransferTimedOutError):
        await reject_expired(ManualClock(NOW))(forward(expires_in=0), rest)
    await reject_expired(ManualClock(NOW))(forward(expires_in=0.001), rest)
    assert len(rest.seen) == 1
