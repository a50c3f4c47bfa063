"""Waiting for an answer until a wall-clock deadline, by the node's Clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TypeVar

from ilpnet.clock import Clock, SystemClock

T = TypeVar("T")


async def sleep_until(clock: Clock, deadline: datetime) -> None:
    """Return once `clock` has reached `deadline` (measured when this starts running)."""
    while True:
        remaining = (deadline - clock.now()).total_seconds()
        if remaining <= 0:
            return
        await clock.sleep(remaining)


async def answer_by(clock: Clock, deadline: datetime, answer: Awaitable[T]) -> T | None:
    """`answer`'s result, or None if `deadline` (by `clock`) passes first.

    On timeout `answer` is cancelled (when it is a task, the task; the caller decides
    whether the other side keeps working by passing a shielded future). Exceptions of
    `answer` propagate.
    """
    remaining = (deadline - clock.now()).total_seconds()
    if type(clock) is SystemClock:
        return await _answer_by_loop_timer(max(remaining, 0.0), answer)
    job = asyncio.ensure_future(answer)
    if remaining <= 0:
        await asyncio.sleep(0)
        if job.done():
            return job.result()
        job.cancel()
        return None
    timer = asyncio.ensure_future(sleep_until(clock, deadline))
    finished = False
    try:
        await asyncio.wait({job, timer}, return_when=asyncio.FIRST_COMPLETED)
        finished = job.done()
    finally:
        timer.cancel()
        if not finished:
            job.cancel()
    return job.result() if finished else None


async def _answer_by_loop_timer(remaining: float, answer: Awaitable[T]) -> T | None:
    """The real-clock path: one loop timer that cancels this task (lighter than
    `asyncio.timeout`, which this mirrors, uncancel included)."""
    task = asyncio.current_task()
    assert task is not None
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(remaining, expire)
    try:
        result = await answer
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            return None
        raise
    finally:
        timer.cancel()
    if fired:  # the deadline passed, but `answer` swallowed the cancellation and returned
        task.uncancel()
        return None
    return result
