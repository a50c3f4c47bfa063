from __future__ import annotations

from datetime import timedelta

import pytest

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.pipeline import Forward
from ilpnet.connector.steps.record_packet import record_packet
from ilpnet.connector.store import Balance, MemoryStore, PacketState
from ilpnet.wire.packet import Fulfill, Reject
from tests.connector.steps.forwards import FULFILLMENT, NOW, Recorder, forward, settings

BOB = settings("bob", minimum=-100)


def routed(amount: int = 100) -> Forward:
    return forward(
        amount, out_account=BOB, out_amount=amount - 10, out_expires_at=NOW + timedelta(seconds=9)
    )


async def test_fulfill_commits_both_sides_and_calls_the_hook() -> None:
    store, hooked = MemoryStore(), []

    def hook(account: AccountSettings) -> None:
        hooked.append(account.id)

    await store.reserve_incoming("pid", "alice", 100, None, NOW)
    fwd = routed()
    assert isinstance(
        await record_packet(store, hook)(fwd, Recorder(Fulfill(FULFILLMENT))), Fulfill
    )
    assert fwd.facts.recorded
    assert await store.get_balance("alice") == Balance("alice", 100, 0, 0)
    assert await store.get_balance("bob") == Balance("bob", -90, 0, 0)
    assert hooked == ["bob"]
    assert (await store.get_packet("pid")).state is PacketState.FULFILLED  # type: ignore[union-attr]


async def test_reject_and_timeout_release_both_sides() -> None:
    store = MemoryStore()
    await store.reserve_incoming("pid", "alice", 100, None, NOW)
    await record_packet(store)(routed(), Recorder(Reject("F99", "test.x", "no")))
    assert await store.get_balance("alice") == Balance("alice", 0, 0, 0)

    async def times_out(fwd: Forward) -> Fulfill:
        raise TransferTimedOutError("packet expired.")

    again = MemoryStore()
    await again.reserve_incoming("pid", "alice", 100, None, NOW)
    with pytest.raises(TransferTimedOutError):
        await record_packet(again)(routed(), Recorder(times_out))
    assert (await again.get_packet("pid")).state is PacketState.EXPIRED  # type: ignore[union-attr]
    assert await again.get_balance("alice") == Balance("alice", 0, 0, 0)


async def test_t04_below_minimum_records_nothing() -> None:
    store = MemoryStore()
    fwd = routed(200)
    with pytest.raises(InsufficientLiquidityError):
        await record_packet(store)(fwd, Recorder(Fulfill(FULFILLMENT)))
    assert not fwd.facts.recorded
    assert await store.get_packet("pid") is None


async def test_zero_amount_is_forwarded_without_a_record() -> None:
    store = MemoryStore()
    rest = Recorder(Fulfill(FULFILLMENT))
    fwd = forward(0, out_account=BOB, out_amount=0, out_expires_at=NOW + timedelta(seconds=9))
    assert isinstance(await record_packet(store)(fwd, rest), Fulfill)
    assert len(rest.seen) == 1
    assert await store.get_packet("pid") is None
    assert fwd.facts.out_account == "bob"
