"""Garbage-collector settings for a long-running node process.

Forwarding one packet allocates a few dozen container objects (coroutines, futures,
frames of the codecs), some in short-lived reference cycles. With CPython's default
thresholds (700, 10, 10) the collector runs every few packets and, every hundred or so
runs, walks every object the process holds (aiohttp, pydantic, prometheus...), which
costs about a quarter of the connector's CPU time. Freezing what exists once the node
has started moves it out of the collector's sight.

What outlives a packet is mostly the store's record of it (kept one sweep interval, some
10^5 objects at 20,000 packets a second). A young-generation pass walks every tracked
object allocated since the last one, 100-200 ns each: with a first threshold of 50,000
each pass held the event loop 7-15 ms (at half the peak rate, memory store), and its
survivors then made the older generations' passes as long (9 ms seen with 5,000). Now the
young passes come every `YOUNG_THRESHOLD` allocations (~0.2 ms each), and what survives
one is frozen at once, out of every later pass (it is still freed by its reference count
as usual). Only cycles among frozen objects that later become garbage are left: measured,
a couple of hundred objects over 170,000 packets, which the full collection every
`FULL_EVERY_S` (tens of milliseconds) takes.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG_THRESHOLD = 2_000
"""Allocations (minus deallocations) between young-generation collections."""
FULL_EVERY_S = 900.0
"""Seconds between full collections (of everything frozen too), on the node's loop."""


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """A `gc.callbacks` hook: what survived a young-generation pass is frozen."""
    if phase == "stop" and info["generation"] == 0:
        gc.freeze()


def _collect_all(loop: asyncio.AbstractEventLoop) -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    loop.call_later(FULL_EVERY_S, _collect_all, loop)


def tune_for_throughput() -> None:
    """Call once the node is up (its long-lived objects exist), from the process's entry
    point only: the settings are process-wide. On a running event loop, it also schedules
    the full collections there."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    loop.call_later(FULL_EVERY_S, _collect_all, loop)
