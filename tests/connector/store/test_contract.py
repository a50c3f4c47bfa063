"""One contract for every store backend: limits, exactly-once endings, settlements."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.store import Balance, Hold, InFlight, PacketState, Store
from ilpnet.connector.store.memory import KEEP_ENDED, MemoryStore
from ilpnet.connector.store.protocols import INT64_MAX, INT64_MIN
from ilpnet.wire.errors import ErrorCode

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def packet(
    packet_id: str,
    incoming: int = 100,
    outgoing: int = 90,
    *,
    expires: datetime = T0,
    src: str = "alice",
    dst: str = "bob",
) -> InFlight:
    return InFlight(
        packet_id=packet_id,
        incoming_account=src,
        incoming_amount=incoming,
        outgoing_account=dst,
        outgoing_amount=outgoing,
        condition=bytes(range(32)),
        incoming_expires_at=expires + timedelta(seconds=1),
        outgoing_expires_at=expires,
    )


_reservations = itertools.count()


async def reserve(store: Store, account: str, amount: int, maximum: int | None) -> int:
    """A reservation under a fresh packet id."""
    packet_id = f"r{next(_reservations)}"
    return await store.reserve_incoming(packet_id, account, amount, maximum, T0)


async def begin(store: Store, record: InFlight, minimum: int | None) -> None:
    """What the pipeline does: reserve the incoming amount under the packet's id (when
    there is one), then record the packet, which takes that hold over."""
    if record.incoming_amount:
        await store.reserve_incoming(
            record.packet_id,
            record.incoming_account,
            record.incoming_amount,
            None,
            record.incoming_expires_at,
        )
    await store.begin_packet(record, minimum)


async def test_unknown_account_reads_zero(store: Store) -> None:
    assert await store.get_balance("nobody") == Balance("nobody", 0, 0, 0)
    assert await store.all_balances() == []


async def test_reserve_up_to_maximum_then_t04(store: Store) -> None:
    assert await reserve(store, "alice", 60, 100) == 60
    assert await reserve(store, "alice", 40, 100) == 100
    with pytest.raises(InsufficientLiquidityError) as err:
        await reserve(store, "alice", 1, 100)
    assert err.value.code is ErrorCode.T04_INSUFFICIENT_LIQUIDITY
    assert "maximum=100" in err.value.message
    assert await store.get_balance("alice") == Balance("alice", 100, 100, 0)


async def test_reserve_without_maximum_and_at_int64_edge(store: Store) -> None:
    assert await reserve(store, "a", INT64_MAX - 5, None) == INT64_MAX - 5
    assert await reserve(store, "a", 5, None) == INT64_MAX
    with pytest.raises(InsufficientLiquidityError):
        await reserve(store, "a", 1, None)
    assert (await store.get_balance("a")).balance == INT64_MAX


async def test_exact_beyond_double_precision(store: Store) -> None:
    big = 2**60 + 1  # not representable as a double
    await reserve(store, "a", big, big)
    with pytest.raises(InsufficientLiquidityError):
        await reserve(store, "a", 1, big)
    assert (await store.get_balance("a")).balance == big


async def test_negative_maximum_refuses_everything_but_zero(store: Store) -> None:
    await store.settled_incoming("a", 50)  # balance -50
    assert await reserve(store, "a", 30, -10) == -20
    with pytest.raises(InsufficientLiquidityError):
        await reserve(store, "a", 11, -10)


async def test_commit_and_release_incoming(store: Store) -> None:
    await store.reserve_incoming("p1", "alice", 30, None, T0)
    await store.reserve_incoming("p2", "alice", 20, None, T0)
    assert await store.commit_incoming("p1") is True
    assert await store.release_incoming("p2") is True
    assert await store.get_balance("alice") == Balance("alice", 30, 0, 0)
    assert [b.account for b in await store.all_balances()] == ["alice"]
    # each hold ends once: again, or the other way, changes nothing
    assert await store.commit_incoming("p1") is False
    assert await store.release_incoming("p1") is False
    assert await store.release_incoming("p2") is False
    assert await store.commit_incoming("unknown") is False
    assert await store.get_balance("alice") == Balance("alice", 30, 0, 0)
    assert await store.held_incoming() == []


async def test_holds_are_listed_by_expiry_until_ended_or_taken_over(store: Store) -> None:
    later = T0 + timedelta(seconds=5)
    await store.reserve_incoming("late", "alice", 7, None, later)
    await store.reserve_incoming("early", "carol", 5, None, T0)
    await store.reserve_incoming("p1", "alice", 100, None, T0 + timedelta(seconds=1))
    assert await store.held_incoming() == [
        Hold("early", "carol", 5, T0),
        Hold("p1", "alice", 100, T0 + timedelta(seconds=1)),
        Hold("late", "alice", 7, later),
    ]
    await store.begin_packet(packet("p1"), None)  # the record takes the hold over
    assert await store.release_incoming("p1") is False
    assert await store.get_balance("alice") == Balance("alice", 107, 107, 0)
    assert await store.release_incoming("early") is True
    assert [h.packet_id for h in await store.held_incoming()] == ["late"]
    assert await store.finish_packet("p1", PacketState.REJECTED) is True
    assert await store.get_balance("alice") == Balance("alice", 7, 7, 0)


async def test_a_hold_is_made_once_per_packet(store: Store) -> None:
    await store.reserve_incoming("p1", "alice", 30, None, T0)
    with pytest.raises(ValueError, match="already has a hold"):
        await store.reserve_incoming("p1", "alice", 30, None, T0)
    assert await store.get_balance("alice") == Balance("alice", 30, 30, 0)


async def test_a_packet_without_its_hold_is_not_recorded(store: Store) -> None:
    # never reserved, or released meanwhile (left by a crash, then swept): R00
    with pytest.raises(TransferTimedOutError) as err:
        await store.begin_packet(packet("p1"), None)
    assert err.value.code is ErrorCode.R00_TRANSFER_TIMED_OUT
    await store.reserve_incoming("p2", "alice", 100, None, T0)
    assert await store.release_incoming("p2") is True
    with pytest.raises(TransferTimedOutError):
        await store.begin_packet(packet("p2"), None)
    assert await store.get_packet("p1") is None
    assert await store.get_packet("p2") is None
    assert await store.pending_packets() == []
    assert await store.get_balance("alice") == Balance("alice", 0, 0, 0)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 0)


async def test_a_hold_for_another_amount_is_not_taken_over(store: Store) -> None:
    await store.reserve_incoming("p1", "alice", 99, None, T0)
    with pytest.raises(ValueError, match="another amount"):
        await store.begin_packet(packet("p1"), None)  # 100 from alice
    await store.reserve_incoming("p2", "carol", 100, None, T0)
    with pytest.raises(ValueError, match="another amount"):
        await store.begin_packet(packet("p2"), None)  # from alice
    assert await store.get_packet("p1") is None
    assert await store.get_packet("p2") is None
    assert [h.packet_id for h in await store.held_incoming()] == ["p1", "p2"]
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 0)


async def test_a_refused_record_leaves_the_hold_to_its_caller(store: Store) -> None:
    await store.reserve_incoming("p1", "alice", 100, None, T0)
    with pytest.raises(InsufficientLiquidityError):
        await store.begin_packet(packet("p1"), 0)  # bob may not go below 0
    assert await store.release_incoming("p1") is True
    assert await store.get_balance("alice") == Balance("alice", 0, 0, 0)


async def test_packet_fulfilled_moves_both_books(store: Store) -> None:
    await begin(store, packet("p1"), None)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 90)
    assert [p.packet_id for p in await store.pending_packets()] == ["p1"]
    assert await store.finish_packet("p1", PacketState.FULFILLED) is True
    assert await store.get_balance("alice") == Balance("alice", 100, 0, 0)
    assert await store.get_balance("bob") == Balance("bob", -90, 0, 0)
    assert await store.pending_packets() == []
    record = await store.get_packet("p1")
    assert record is not None
    assert record.state is PacketState.FULFILLED
    assert record.condition == bytes(range(32))
    assert record.outgoing_expires_at == T0
    assert record.incoming_amount == 100


@pytest.mark.parametrize("outcome", [PacketState.REJECTED, PacketState.EXPIRED])
async def test_packet_failed_releases_both_books(store: Store, outcome: PacketState) -> None:
    await begin(store, packet("p1"), None)
    assert await store.finish_packet("p1", outcome) is True
    assert await store.get_balance("alice") == Balance("alice", 0, 0, 0)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 0)
    got = await store.get_packet("p1")
    assert got is not None
    assert got.state is outcome


async def test_finish_exactly_once(store: Store) -> None:
    await begin(store, packet("p1"), None)
    assert await store.finish_packet("p1", PacketState.EXPIRED) is True
    # A late fulfill after the packet was expired is never paid.
    assert await store.finish_packet("p1", PacketState.FULFILLED) is False
    assert await store.finish_packet("p1", PacketState.EXPIRED) is False
    assert await store.finish_packet("unknown", PacketState.FULFILLED) is False
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 0)
    assert await store.get_balance("alice") == Balance("alice", 0, 0, 0)


async def test_concurrent_finishes_only_one_wins(store: Store) -> None:
    await begin(store, packet("p1"), None)
    outcomes = [PacketState.FULFILLED, PacketState.EXPIRED] * 10
    won = await asyncio.gather(*(store.finish_packet("p1", o) for o in outcomes))
    assert won.count(True) == 1
    final = await store.get_packet("p1")
    assert final is not None
    bob = await store.get_balance("bob")
    alice = await store.get_balance("alice")
    if final.state is PacketState.FULFILLED:
        assert (alice.balance, bob.balance) == (100, -90)
    else:
        assert (alice.balance, bob.balance) == (0, 0)
    assert (alice.pending_in, bob.pending_out) == (0, 0)


async def test_begin_packet_respects_minimum(store: Store) -> None:
    await begin(store, packet("p1", outgoing=60), -100)
    with pytest.raises(InsufficientLiquidityError) as err:
        await begin(store, packet("p2", outgoing=41), -100)
    assert "minimum=-100" in err.value.message
    assert await store.get_packet("p2") is None
    await begin(store, packet("p3", outgoing=40), -100)
    assert (await store.get_balance("bob")).pending_out == 100
    await store.finish_packet("p1", PacketState.REJECTED)
    await begin(store, packet("p4", outgoing=60), -100)
    assert (await store.get_balance("bob")).available_out == -100


async def test_begin_packet_twice_is_refused(store: Store) -> None:
    await begin(store, packet("p1"), None)
    with pytest.raises(ValueError, match="already recorded"):
        await store.begin_packet(packet("p1"), None)
    assert (await store.get_balance("bob")).pending_out == 90


async def test_pending_packets_ordered_by_expiry_and_prune(store: Store) -> None:
    await begin(store, packet("late", expires=T0 + timedelta(seconds=5)), None)
    await begin(store, packet("early", expires=T0), None)
    await begin(store, packet("mid", expires=T0 + timedelta(seconds=2)), None)
    assert [p.packet_id for p in await store.pending_packets()] == ["early", "mid", "late"]
    await store.finish_packet("mid", PacketState.FULFILLED)
    assert await store.prune_finished() == 1
    assert await store.get_packet("mid") is None
    assert [p.packet_id for p in await store.pending_packets()] == ["early", "late"]


async def test_prune_forgets_more_ended_packets_than_one_chunk(store: Store) -> None:
    """Stores prune in chunks (hundreds at a time); every ended packet goes, no pending one."""
    ended = 1234
    await asyncio.gather(*(begin(store, packet(f"e{i}", 1, 1), None) for i in range(ended)))
    await begin(store, packet("still"), None)
    outcomes = (PacketState.FULFILLED, PacketState.REJECTED, PacketState.EXPIRED)
    await asyncio.gather(*(store.finish_packet(f"e{i}", outcomes[i % 3]) for i in range(ended)))
    pruned = await store.prune_finished()
    # every one kept until now (the memory store keeps only the latest of them anyway)
    assert pruned == ended or (isinstance(store, MemoryStore) and pruned == KEEP_ENDED)
    assert await store.get_packet("e0") is None
    assert await store.get_packet(f"e{ended - 1}") is None
    assert [p.packet_id for p in await store.pending_packets()] == ["still"]
    assert await store.prune_finished() == 0


async def test_settlement_trigger_raises_balance_once(store: Store) -> None:
    await begin(store, packet("p1", outgoing=500), None)
    await store.finish_packet("p1", PacketState.FULFILLED)  # bob -500
    assert await store.begin_settlement("bob", -400, -50) == 450
    assert (await store.get_balance("bob")).balance == -50
    assert await store.begin_settlement("bob", -400, -50) == 0


async def test_a_keyed_settlement_decision_is_kept_and_answered_again(store: Store) -> None:
    await store.settled_incoming("bob", 500)  # -500
    assert await store.begin_settlement("bob", -400, -50, "k1") == 450
    await store.settled_incoming("bob", 1000)  # -1050: below the threshold again
    # asked again under k1 (a restarted settler): the first decision, nothing raised
    assert await store.begin_settlement("bob", -400, -50, "k1") == 450
    assert (await store.get_balance("bob")).balance == -1050
    # a decision of 0 is kept too
    assert await store.begin_settlement("bob", -2000, 0, "k2") == 0
    assert await store.begin_settlement("bob", -400, 0, "k2") == 0
    assert (await store.get_balance("bob")).balance == -1050
    # a new key decides anew
    assert await store.begin_settlement("bob", -400, 0, "k3") == 1050
    assert (await store.get_balance("bob")).balance == 0


async def test_concurrent_keyed_settlements_raise_once(store: Store) -> None:
    await store.settled_incoming("bob", 800)
    paid = await asyncio.gather(*(store.begin_settlement("bob", -1, 0, "same") for _ in range(10)))
    assert paid == [800] * 10
    assert (await store.get_balance("bob")).balance == 0


async def test_settlement_not_below_threshold(store: Store) -> None:
    await store.settled_incoming("bob", 300)  # -300
    assert await store.begin_settlement("bob", -300, 0) == 0
    assert await store.begin_settlement("bob", -299, -100) == 200
    assert (await store.get_balance("bob")).balance == -100


async def test_concurrent_settlements_pay_once(store: Store) -> None:
    await store.settled_incoming("bob", 1000)
    paid = await asyncio.gather(*(store.begin_settlement("bob", -500, 0) for _ in range(20)))
    assert sorted(paid)[-1] == 1000
    assert sum(paid) == 1000


async def test_settled_in_and_out(store: Store) -> None:
    await store.settled_outgoing("bob", 70)
    await store.settled_incoming("bob", 20)
    assert await store.get_balance("bob") == Balance("bob", 50, 0, 0)
    await store.settled_incoming("x", INT64_MAX)
    await store.settled_incoming("x", 1)
    assert (await store.get_balance("x")).balance == INT64_MIN
    with pytest.raises(ValueError, match="overflow"):
        await store.settled_incoming("x", 1)


async def test_many_concurrent_reserves_never_exceed_maximum(store: Store) -> None:
    async def try_reserve(amount: int) -> int:
        try:
            await reserve(store, "alice", amount, 1000)
        except InsufficientLiquidityError:
            return 0
        return amount

    amounts = [7, 13, 29, 31, 50] * 40
    got = await asyncio.gather(*(try_reserve(a) for a in amounts))
    balance = await store.get_balance("alice")
    assert balance.balance == sum(got) <= 1000
    assert balance.pending_in == balance.balance
    assert sum(got) > 1000 - 50


async def test_many_concurrent_packets_never_pass_minimum(store: Store) -> None:
    async def try_begin(i: int) -> int:
        try:
            await begin(store, packet(f"p{i}", outgoing=37), -1000)
        except InsufficientLiquidityError:
            return 0
        return 37

    got = await asyncio.gather(*(try_begin(i) for i in range(100)))
    assert sum(got) == 37 * (1000 // 37)
    assert (await store.get_balance("bob")).pending_out == sum(got)


async def test_amounts_beyond_int64_are_t04_not_a_crash(store: Store) -> None:
    with pytest.raises(InsufficientLiquidityError):
        await reserve(store, "a", 2**64 - 1, None)
    with pytest.raises(InsufficientLiquidityError):
        await begin(store, packet("p", incoming=0, outgoing=2**64 - 1), None)
    assert await store.get_balance("a") == Balance("a", 0, 0, 0)
    assert await store.get_packet("p") is None


async def test_settlements_apply_once_per_idempotency_key(store: Store) -> None:
    assert await store.settled_incoming("bob", 100, "pay-1") is True
    assert await store.settled_incoming("bob", 100, "pay-1") is False  # a retried notice
    assert await store.settled_outgoing("bob", 30, "pay-2") is True
    assert await store.settled_outgoing("bob", 30, "pay-2") is False
    assert await store.settled_incoming("bob", 5) is True  # no key: always applied
    assert await store.settled_incoming("bob", 5) is True
    assert (await store.get_balance("bob")).balance == -100 + 30 - 10
    # A refused change does not burn its key.
    await store.settled_incoming("x", INT64_MAX)
    await store.settled_incoming("x", 1)
    with pytest.raises(ValueError, match="overflow"):
        await store.settled_incoming("x", 1, "pay-3")
    assert await store.settled_outgoing("x", 1, "pay-3") is True


async def test_concurrent_retries_of_one_settlement_apply_once(store: Store) -> None:
    applied = await asyncio.gather(*(store.settled_incoming("bob", 7, "k") for _ in range(20)))
    assert applied.count(True) == 1
    assert (await store.get_balance("bob")).balance == -7


async def test_reserve_and_begin_is_both_steps_at_once(store: Store) -> None:
    await store.reserve_and_begin(packet("p1"), 1000, None)
    assert [b.account for b in await store.all_balances()] == ["alice", "bob"]
    assert await store.get_balance("alice") == Balance("alice", 100, 100, 0)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 90)
    assert await store.held_incoming() == []  # nothing between the two steps
    assert [p.packet_id for p in await store.pending_packets()] == ["p1"]
    assert await store.finish_packet("p1", PacketState.FULFILLED) is True
    assert await store.get_balance("alice") == Balance("alice", 100, 0, 0)
    assert await store.get_balance("bob") == Balance("bob", -90, 0, 0)
    await store.reserve_and_begin(packet("zero", incoming=0, outgoing=5), None, None)
    assert await store.get_balance("bob") == Balance("bob", -90, 0, 5)


async def test_reserve_and_begin_refused_by_either_limit_changes_nothing(store: Store) -> None:
    with pytest.raises(InsufficientLiquidityError, match="maximum=99"):
        await store.reserve_and_begin(packet("p1"), 99, None)
    with pytest.raises(InsufficientLiquidityError, match="minimum=-89"):
        await store.reserve_and_begin(packet("p2"), 100, -89)  # the incoming one undone
    await store.reserve_and_begin(packet("p3"), 100, None)
    with pytest.raises(ValueError, match="already recorded"):
        await store.reserve_and_begin(packet("p3", outgoing=1), 1000, None)
    assert await store.get_packet("p1") is None
    assert await store.get_packet("p2") is None
    assert await store.get_balance("alice") == Balance("alice", 100, 100, 0)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 90)
    assert await store.held_incoming() == []


async def test_reserve_and_begin_on_one_account_sees_its_own_reservation(store: Store) -> None:
    """In and out on one account: as with the two steps one after the other, the minimum
    is checked against the balance with the incoming amount already reserved."""
    looped = packet("p1", 100, 150, src="alice", dst="alice")
    await store.reserve_and_begin(looped, None, -50)
    assert await store.get_balance("alice") == Balance("alice", 100, 100, 150)
    with pytest.raises(InsufficientLiquidityError):
        await store.reserve_and_begin(packet("p2", 10, 11, src="alice", dst="alice"), None, -50)
    assert await store.get_balance("alice") == Balance("alice", 100, 100, 150)


async def test_the_memory_store_keeps_the_latest_ended_packets() -> None:
    store = MemoryStore()
    for i in range(KEEP_ENDED + 10):
        await store.begin_packet(packet(f"p{i}", 0, 1), None)
        outcome = PacketState.FULFILLED if i % 2 else PacketState.REJECTED
        assert await store.finish_packet(f"p{i}", outcome) is True
    assert await store.get_packet("p9") is None  # forgotten as later ones ended
    kept = await store.get_packet("p10")
    assert kept is not None
    assert kept.state is PacketState.REJECTED
    latest = await store.get_packet(f"p{KEEP_ENDED + 9}")
    assert latest is not None
    assert latest.state is PacketState.FULFILLED
    assert await store.prune_finished() == KEEP_ENDED
    await store.begin_packet(packet("again", 0, 1), None)  # forgetting what a prune forgot
    assert await store.finish_packet("again", PacketState.EXPIRED) is True
    assert await store.get_balance("bob") == Balance("bob", -(KEEP_ENDED + 10) // 2, 0, 0)


async def test_reserve_and_begin_at_the_exact_limits_of_known_accounts(store: Store) -> None:
    """Accounts with books already (the memory store's quick path): each limit is kept up
    to the unit, and one unit past it refuses with nothing changed."""
    await store.settled_incoming("alice", 0)
    await store.settled_outgoing("bob", 0)
    await store.reserve_and_begin(packet("p1", 60, 50), 60, -50)  # both limits exactly
    assert await store.get_balance("alice") == Balance("alice", 60, 60, 0)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 50)
    with pytest.raises(InsufficientLiquidityError, match="maximum"):
        await store.reserve_and_begin(packet("p2", 1, 0), 60, None)
    with pytest.raises(InsufficientLiquidityError, match="minimum"):
        await store.reserve_and_begin(packet("p3", 1, 1), None, -50)
    await store.reserve_and_begin(packet("p4", 1, 1), 61, -51)
    assert await store.get_balance("alice") == Balance("alice", 61, 61, 0)
    assert await store.get_balance("bob") == Balance("bob", 0, 0, 51)
    assert await store.finish_packet("p1", PacketState.FULFILLED) is True
    assert await store.finish_packet("p4", PacketState.REJECTED) is True
    assert await store.get_balance("alice") == Balance("alice", 60, 0, 0)
    assert await store.get_balance("bob") == Balance("bob", -50, 0, 0)
