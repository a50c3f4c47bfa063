"""Waiting for an answer until a wall-clock deadline, by the node's Clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

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
    if type(clock) is SystemClock:
        return await _answer_by_loop_timer(clock, deadline, answer)
    remaining = (deadline - clock.now()).total_seconds()
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


_ENCLOSING: ContextVar[tuple[asyncio.Task[Any], datetime] | None] = ContextVar(
    "ilpnet_answer_by_deadline", default=None
)
"""The task and deadline of the `answer_by` this code runs inside (real-clock path)."""


async def _answer_by_loop_timer(
    clock: SystemClock, deadline: datetime, answer: Awaitable[T]
) -> T | None:
    """The real-clock path: one loop timer that cancels this task (lighter than
    `asyncio.timeout`, which this mirrors, uncancel included).

    Inside another `answer_by` of the same task whose deadline comes no later (a
    connector's send around a link's own wait, both until the Prepare's expiry), the outer
    timer fires first and decides the outcome anyway, so no second timer is armed."""
    task = asyncio.current_task()
    assert task is not None
    enclosing = _ENCLOSING.get()
    if enclosing is not None and enclosing[0] is task and enclosing[1] <= deadline:
        return await answer
    remaining = max((deadline - clock.now()).total_seconds(), 0.0)
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = asyncio.get_running_loop().call_later(remaining, expire)
    scope = _ENCLOSING.set((task, deadline))
    try:
        result = await answer
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            return None
        raise
    finally:
        _ENCLOSING.reset(scope)
        timer.cancel()
    if fired:  # the deadline passed, but `answer` swallowed the cancellation and returned
        task.uncancel()
        return None
    return result
