"""Waiting for an answer until a deadline by the Clock (both clock paths)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from ilpnet.clock import ManualClock, SystemClock
from ilpnet.links.deadline import _alarms, answer_by, sleep_until, within_deadline


async def test_answer_by_when_the_awaited_call_swallows_the_cancellation() -> None:
    clock = SystemClock()

    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "too late"
        return "never"

    assert await answer_by(clock, clock.now() + timedelta(seconds=0.01), stubborn()) is None
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # nothing left pending for the caller
    await asyncio.sleep(0)  # and the task can go on awaiting


async def test_manual_clock_deadline_and_prompt_answer() -> None:
    clock = ManualClock()
    never = asyncio.Event()
    waiting = asyncio.ensure_future(
        answer_by(clock, clock.now() + timedelta(seconds=5), never.wait())
    )
    await asyncio.sleep(0)
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.1)
    assert await asyncio.wait_for(waiting, 5) is None

    async def quick() -> int:
        return 7

    assert await answer_by(clock, clock.now() + timedelta(seconds=5), quick()) == 7
    assert await answer_by(SystemClock(), SystemClock().now() + timedelta(seconds=5), quick()) == 7


async def test_sleep_until_a_past_deadline_returns_at_once() -> None:
    clock = ManualClock()
    await asyncio.wait_for(sleep_until(clock, clock.now() - timedelta(seconds=1)), 1)


async def test_nested_deadlines_the_outer_one_decides_and_inner_earlier_ones_still_fire() -> None:
    clock = SystemClock()
    outer_deadline = clock.now() + timedelta(seconds=0.05)
    never = asyncio.Event()

    async def inner(deadline_s: float) -> str:
        got = await answer_by(clock, clock.now() + timedelta(seconds=deadline_s), never.wait())
        return "inner timed out" if got is None else "inner answered"

    # same-or-later inner deadline: the outer timer ends the wait, the outer sees None
    assert await asyncio.wait_for(answer_by(clock, outer_deadline, inner(0.05)), 5) is None
    # an earlier inner deadline still fires on its own and answers the outer call
    outer_deadline = clock.now() + timedelta(seconds=5)
    answer = await asyncio.wait_for(answer_by(clock, outer_deadline, inner(0.01)), 5)
    assert answer == "inner timed out"


async def test_a_task_started_inside_a_deadline_keeps_its_own_timer() -> None:
    clock = SystemClock()
    never = asyncio.Event()
    children: list[asyncio.Future[Any]] = []

    async def start_child() -> bool:
        # the child task inherits this context (the outer deadline with it), not its timer
        later = clock.now() + timedelta(seconds=0.05)
        children.append(asyncio.ensure_future(answer_by(clock, later, never.wait())))
        return await never.wait()

    assert await answer_by(clock, clock.now() + timedelta(seconds=0.01), start_child()) is None
    assert await asyncio.wait_for(children[0], 5) is None  # ended by its own timer


async def test_real_clock_waits_never_end_early_and_share_their_timers() -> None:
    clock = SystemClock()
    loop = asyncio.get_running_loop()
    never = asyncio.Event()
    deadline = clock.now() + timedelta(seconds=0.05)
    waits = [asyncio.ensure_future(answer_by(clock, deadline, never.wait())) for _ in range(50)]
    await asyncio.sleep(0)
    # deadlines round up to the loop's millisecond: 50 waits, one or two loop timers
    assert 1 <= len(_alarms(loop)._buckets) <= 2
    assert await asyncio.wait_for(asyncio.gather(*waits), 5) == [None] * 50
    assert clock.now() >= deadline
    assert not _alarms(loop)._buckets


async def test_an_answered_wait_leaves_no_timer_behind() -> None:
    clock = SystemClock()
    loop = asyncio.get_running_loop()

    async def quick() -> int:
        await asyncio.sleep(0)
        return 7

    deadline = clock.now() + timedelta(seconds=30)
    assert (
        await asyncio.gather(*(answer_by(clock, deadline, quick()) for _ in range(20))) == [7] * 20
    )
    assert not _alarms(loop)._buckets


async def test_within_deadline_only_inside_a_real_clock_wait_of_this_task() -> None:
    clock = SystemClock()
    deadline = clock.now() + timedelta(seconds=30)
    assert not within_deadline(clock, deadline)

    async def inner() -> tuple[bool, bool, bool, bool]:
        return (
            within_deadline(clock, deadline),
            within_deadline(clock, deadline + timedelta(seconds=1)),
            within_deadline(clock, deadline - timedelta(seconds=1)),  # earlier: own timer
            within_deadline(ManualClock(), deadline),
        )

    assert await answer_by(clock, deadline, inner()) == (True, True, False, False)

    async def child() -> bool:
        return within_deadline(clock, deadline)

    async def spawn() -> bool:  # another task inherits the context, not the deadline
        return await asyncio.ensure_future(child())

    assert await answer_by(clock, deadline, spawn()) is False
