"""Random Prepares through the A–B–C line: every one gets exactly one answer, nothing is
left in flight, and each pair of neighbours agrees on its balance."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, line, store_factory

destinations = st.sampled_from(
    [
        "test.c.receiver",
        "test.c.receiver.x",
        "test.c",
        "test.a",
        "test.a.sender",
        "test.b.nowhere",
        "g.live",
        "peer.config",
        "peer.route.update",
        "peer.other",
        "test.elsewhere",
    ]
)
prepares = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 10), st.integers(0, 10**6), st.integers(0, 2**64 - 1)),
        st.floats(-2, 40),
        destinations,
        st.sampled_from([CONDITION, bytes(32)]),
        st.binary(max_size=40),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=prepares)
def test_random_prepares_are_answered_once_and_books_agree(
    batch: list[tuple[int, float, str, bytes, bytes]], tmp_path: Path
) -> None:
    async def run() -> None:
        limits: dict[str, Any] = {"maximum": 10**9, "max_packet_amount": 10**8}
        async with line(store_factory("memory", tmp_path, None), sender=limits) as net:
            packets = [
                Prepare(amount, net.clock.now() + timedelta(seconds=s), cond, dest, data)
                for amount, s, dest, cond, data in batch
            ]
            answers = await asyncio.gather(*(net.a.handle("sender", p) for p in packets))
            for answer in answers:
                assert isinstance(answer, Fulfill | Reject)
                if isinstance(answer, Reject):
                    assert answer.code != "T00", answer
                    assert answer.triggered_by in {"test.a", "test.b", "test.c"}
            books = await net.balances()
            assert books["a.b"] == -books["b.a"]
            assert books["b.c"] == -books["c.b"]
            assert await net.pending() == 0

    asyncio.run(run())
