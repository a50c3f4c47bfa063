"""Waiting for an answer until a wall-clock deadline, by the node's Clock."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

from ilpnet.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

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

    On the real clock this task is cancelled at the deadline (lighter than
    `asyncio.timeout`, which this mirrors, uncancel included). Inside another `answer_by`
    of the same task whose deadline comes no later (a connector's send around a link's own
    wait, both until the Prepare's expiry), the outer one fires first and decides the
    outcome anyway, so no second alarm is set.
    """
    if type(clock) is not SystemClock:
        return await _answer_by_clock(clock, deadline, answer)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    assert task is not None
    enclosing = _ENCLOSING.get()
    if enclosing is not None and enclosing[0] is task and enclosing[1] <= deadline:
        return await answer
    remaining = (deadline - clock.now()).total_seconds()
    wait = _Wait(task)
    alarms = _alarms(loop)
    key = alarms.add(remaining if remaining > 0 else 0.0, wait)
    scope = _ENCLOSING.set((task, deadline))
    try:
        result = await answer
    except asyncio.CancelledError:
        if wait.fired and task.uncancel() == 0:
            return None
        raise
    finally:
        _ENCLOSING.reset(scope)
        alarms.remove(key, wait)
    if wait.fired:  # the deadline passed, but `answer` swallowed the cancellation and returned
        task.uncancel()
        return None
    return result


def within_deadline(clock: Clock, deadline: datetime) -> bool:
    """Whether the running task is inside an `answer_by` on the real clock whose deadline
    comes no later than `deadline`: then ``answer_by(clock, deadline, x)`` would only
    ``await x`` (callers may skip the call)."""
    if type(clock) is not SystemClock:
        return False
    enclosing = _ENCLOSING.get()
    return (
        enclosing is not None
        and enclosing[1] <= deadline
        and enclosing[0] is asyncio.current_task()
    )


async def _answer_by_clock(clock: Clock, deadline: datetime, answer: Awaitable[T]) -> T | None:
    """`answer_by` on any other clock (a `ManualClock` in tests): by `sleep_until`."""
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


class _Wait:
    """One `answer_by` on the real clock: the task to cancel when its deadline passes."""

    __slots__ = ("fired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()


class Alarm:
    """A callback due at a deadline (`alarm_in`); `cancel` before it fires to drop it."""

    __slots__ = ("_alarms", "_callback", "_key")

    def __init__(self, alarms: _Alarms, seconds: float, callback: Callable[[], None]) -> None:
        self._alarms = alarms
        self._callback = callback
        self._key = alarms.add(seconds, self)

    def fire(self) -> None:
        try:
            self._callback()
        except Exception:  # one failing callback must not keep the others of its timer
            log.exception("alarm.callback_failed")

    def cancel(self) -> None:
        self._alarms.remove(self._key, self)


def alarm_in(seconds: float, callback: Callable[[], None]) -> Alarm:
    """Call `callback` from the running loop once `seconds` (by the loop's clock) have
    passed, unless the alarm is cancelled first: the timers `answer_by` uses on the real
    clock, shared per millisecond (never early, at most 1 ms late)."""
    return Alarm(_alarms(asyncio.get_running_loop()), seconds if seconds > 0 else 0.0, callback)


class _Due(Protocol):
    def fire(self) -> None: ...


class _Alarms:
    """Fires waits (cancels their tasks) and alarms at their deadlines with one loop timer
    per millisecond of deadlines: packets forwarded together share one timer (arming and
    cancelling a loop timer costs more than the rest of a wait). A deadline is rounded up
    to the next millisecond of the loop's clock, so a wait never ends early and at most
    1 ms late."""

    __slots__ = ("_buckets", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buckets: dict[int, tuple[asyncio.TimerHandle, set[_Due]]] = {}

    def add(self, seconds: float, wait: _Due) -> int:
        """Fire `wait` in `seconds` unless `remove`d first; returns the bucket key."""
        loop = self._loop
        key = math.ceil((loop.time() + seconds) * 1000)
        bucket = self._buckets.get(key)
        if bucket is None:
            timer = loop.call_at(key / 1000, self._fire, key)
            bucket = self._buckets[key] = (timer, set())
        bucket[1].add(wait)
        return key

    def remove(self, key: int, wait: _Due) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return
        waits = bucket[1]
        waits.discard(wait)
        if not waits:
            bucket[0].cancel()
            del self._buckets[key]

    def _fire(self, key: int) -> None:
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            return
        for wait in bucket[1]:
            wait.fire()


_ALARMS: dict[asyncio.AbstractEventLoop, _Alarms] = {}
"""Each running loop's alarms (those of closed loops are dropped when a new loop comes)."""


def _alarms(loop: asyncio.AbstractEventLoop) -> _Alarms:
    alarms = _ALARMS.get(loop)
    if alarms is None:
        for old in [other for other in list(_ALARMS) if other.is_closed()]:
            del _ALARMS[old]
        alarms = _ALARMS[loop] = _Alarms(loop)
    return alarms
