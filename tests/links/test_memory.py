"""In-process links: delivery through the codecs, expiry by the clock, T01 when closed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ilpnet.clock import ManualClock, SystemClock
from ilpnet.crypto.condition import condition_of
from ilpnet.links.memory import memory_link_pair
from ilpnet.wire.packet import Fulfill, Prepare, Reject

FULFILLMENT = bytes(range(32))


def prepare(clock: ManualClock | SystemClock, seconds: float = 10) -> Prepare:
    return Prepare(
        5,
        clock.now() + timedelta(seconds=seconds),
        condition_of(FULFILLMENT),
        "test.b.x",
        b"hi",
    )


async def test_both_directions() -> None:
    clock = ManualClock()
    a, b = memory_link_pair("to-b", "to-a", clock, a_address="test.a", b_address="test.b")
    seen: list[tuple[str, Prepare]] = []

    async def b_handles(p: Prepare) -> Fulfill | Reject:
        seen.append(("b", p))
        return Fulfill(FULFILLMENT, b"ok")

    async def a_handles(p: Prepare) -> Fulfill | Reject:
        seen.append(("a", p))
        return Reject("F99", "test.a", "no thanks")

    a.set_handler(a_handles)
    b.set_handler(b_handles)
    await a.start()
    p = prepare(clock)
    assert await a.send(p) == Fulfill(FULFILLMENT, b"ok")
    assert await b.send(p) == Reject("F99", "test.a", "no thanks")
    assert seen == [("b", p), ("a", p)]
    assert (a.account_id, b.account_id) == ("to-b", "to-a")


async def test_expiry_answers_r00_and_drops_late_answer() -> None:
    clock = ManualClock()
    a, b = memory_link_pair("to-b", "to-a", clock, a_address="test.a")
    release = asyncio.Event()
    finished = asyncio.Event()

    async def slow(p: Prepare) -> Fulfill | Reject:
        await release.wait()
        finished.set()
        return Fulfill(FULFILLMENT)

    b.set_handler(slow)
    sending = asyncio.create_task(a.send(prepare(clock, seconds=2)))
    await asyncio.sleep(0)
    clock.advance(1.9)
    await asyncio.sleep(0)
    assert not sending.done()
    clock.advance(0.2)
    answer = await asyncio.wait_for(sending, 5)
    assert isinstance(answer, Reject)
    assert (answer.code, answer.triggered_by) == ("R00", "test.a")
    # The other side was not interrupted: it finishes, and its answer goes nowhere.
    release.set()
    await asyncio.wait_for(finished.wait(), 5)


async def test_expiry_with_system_clock() -> None:
    clock = SystemClock()
    a, b = memory_link_pair("to-b", "to-a", clock)

    async def never(p: Prepare) -> Fulfill | Reject:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    b.set_handler(never)
    answer = await asyncio.wait_for(a.send(prepare(clock, seconds=0.05)), 5)
    assert isinstance(answer, Reject)
    assert answer.code == "R00"
    await b.close()


async def test_no_handler_or_closed_is_t01() -> None:
    clock = ManualClock()
    a, b = memory_link_pair("to-b", "to-a", clock, a_address="test.a")
    answer = await a.send(prepare(clock))
    assert isinstance(answer, Reject)
    assert (answer.code, answer.triggered_by) == ("T01", "test.a")

    async def ok(p: Prepare) -> Fulfill | Reject:
        return Fulfill(FULFILLMENT)

    b.set_handler(ok)
    assert isinstance(await a.send(prepare(clock)), Fulfill)
    await b.close()
    answer = await a.send(prepare(clock))
    assert isinstance(answer, Reject)
    assert answer.code == "T01"


async def test_close_ends_waiting_sends_with_t01() -> None:
    clock = ManualClock()
    a, b = memory_link_pair("to-b", "to-a", clock)
    started = asyncio.Event()

    async def hang(p: Prepare) -> Fulfill | Reject:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    b.set_handler(hang)
    first = asyncio.create_task(a.send(prepare(clock)))
    await asyncio.wait_for(started.wait(), 5)
    await a.close()
    answer = await asyncio.wait_for(first, 5)
    assert isinstance(answer, Reject)
    assert answer.code == "T01"
    # Closing the far end stops its handlers; a send waiting on it also gets T01.
    c, d = memory_link_pair("to-d", "to-c", clock)
    started.clear()
    d.set_handler(hang)
    second = asyncio.create_task(c.send(prepare(clock)))
    await asyncio.wait_for(started.wait(), 5)
    await d.close()
    answer = await asyncio.wait_for(second, 5)
    assert isinstance(answer, Reject)
    assert answer.code == "T01"


async def test_handler_failure_is_t00() -> None:
    clock = ManualClock()
    a, b = memory_link_pair("to-b", "to-a", clock)

    async def broken(p: Prepare) -> Fulfill | Reject:
        raise RuntimeError("boom")

    b.set_handler(broken)
    answer = await a.send(prepare(clock))
    assert isinstance(answer, Reject)
    assert answer.code == "T00"
