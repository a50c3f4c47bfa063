from __future__ import annotations

import pytest

from ilpnet.connector.steps.verify_fulfillment import verify_fulfillment
from ilpnet.wire.errors import IlpError
from ilpnet.wire.packet import Fulfill, Reject
from tests.connector.steps.forwards import FULFILLMENT, Recorder, forward


async def test_matching_fulfill_passes() -> None:
    answer = await verify_fulfillment()(forward(), Recorder(Fulfill(FULFILLMENT, b"d")))
    assert answer == Fulfill(FULFILLMENT, b"d")


async def test_f05_on_mismatch() -> None:
    with pytest.raises(IlpError) as err:
        await verify_fulfillment()(forward(), Recorder(Fulfill(bytes(32))))
    assert err.value.code.value == "F05"


async def test_rejects_pass() -> None:
    refusal = Reject("F99", "test.x", "no")
    assert await verify_fulfillment()(forward(), Recorder(refusal)) == refusal
