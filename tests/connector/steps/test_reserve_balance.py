from __future__ import annotations

import pytest

from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.pipeline import Forward
from ilpnet.connector.steps.reserve_balance import reserve_balance
from ilpnet.connector.store import Balance, MemoryStore
from ilpnet.wire.packet import Fulfill, Reject
from tests.connector.steps.forwards import Recorder, forward, fulfilled, settings


async def test_commit_on_fulfill_release_on_reject() -> None:
    store = MemoryStore()
    step = reserve_balance(store)
    await step(forward(70), fulfilled())
    await step(forward(20), Recorder(Reject("F99", "test.x", "no")))
    assert await store.get_balance("alice") == Balance("alice", 70, 0, 0)


async def test_t04_over_maximum_and_release_on_failure() -> None:
    store = MemoryStore()
    step = reserve_balance(store)
    limited = settings(maximum=100)
    with pytest.raises(InsufficientLiquidityError):
        await step(forward(101, account=limited), fulfilled())

    async def explode(fwd: Forward) -> Fulfill:
        raise RuntimeError("downstream bug")

    with pytest.raises(RuntimeError):
        await step(forward(100, account=limited), Recorder(explode))
    assert await store.get_balance("alice") == Balance("alice", 0, 0, 0)


async def test_leaves_recorded_packets_to_the_record() -> None:
    store = MemoryStore()

    async def recorded(fwd: Forward) -> Reject:
        fwd.facts.recorded = True
        return Reject("F99", "test.x", "no")

    await reserve_balance(store)(forward(50), Recorder(recorded))
    # The in-flight record (not this step) now owns the reservation.
    assert await store.get_balance("alice") == Balance("alice", 50, 50, 0)
