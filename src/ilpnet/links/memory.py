"""In-process links: two nodes in one process, joined by a pair of `MemoryLink`s.

Used by tests and by the many-node network simulator. Each Prepare and its answer go
through the real codecs (encode, then decode on the other side), so a memory hop behaves
like a wire hop. The sender waits until the Prepare's expiry by its Clock and then answers
itself `R00`; the other side is not interrupted (as over a network) and its late answer is
dropped. A closed link, or one whose other side has no handler yet, answers `T01`.
"""

from __future__ import annotations

import asyncio

from ilpnet.clock import Clock
from ilpnet.links.base import IncomingHandler
from ilpnet.links.deadline import answer_by
from ilpnet.wire.errors import ErrorCode
from ilpnet.wire.packet import Fulfill, Prepare, Reject, decode_packet


class MemoryLink:
    """One end of an in-process link; `memory_link_pair` makes both."""

    def __init__(self, account_id: str, clock: Clock, address: str = "") -> None:
        self._account_id = account_id
        self._clock = clock
        self.address = address
        """This node's ILP address, used as `triggered_by` of the link's own rejects."""
        self._handler: IncomingHandler | None = None
        self._other: MemoryLink | None = None
        self._closed = False
        self._tasks: set[asyncio.Task[Fulfill | Reject]] = set()
        self._waiting: set[asyncio.Future[Fulfill | Reject]] = set()

    @property
    def account_id(self) -> str:
        return self._account_id

    @property
    def connected(self) -> bool:
        other = self._other
        return not self._closed and other is not None and not other._closed

    def set_handler(self, handler: IncomingHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        if self._other is None:
            raise RuntimeError(f"memory link {self._account_id} has no other end")

    def _reject(self, code: ErrorCode, message: str) -> Reject:
        return Reject(code.value, self.address, message)

    def _deliver(self, raw: bytes) -> asyncio.Task[Fulfill | Reject]:
        """Start the other side's handler on the Prepare; the other side owns the task."""
        other = self._other
        assert other is not None
        assert other._handler is not None
        handler = other._handler

        async def run() -> Fulfill | Reject:
            answer = await handler(Prepare.decode(raw))
            decoded = decode_packet(answer.encode())
            assert not isinstance(decoded, Prepare)
            return decoded

        task = asyncio.create_task(run())
        other._tasks.add(task)
        task.add_done_callback(other._tasks.discard)
        return task

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        other = self._other
        if not self.connected or other is None or other._handler is None:
            return self._reject(
                ErrorCode.T01_PEER_UNREACHABLE, f"peer unreachable. account={self._account_id}"
            )
        result: asyncio.Future[Fulfill | Reject] = asyncio.get_running_loop().create_future()

        def settle(task: asyncio.Task[Fulfill | Reject]) -> None:
            if result.done():
                return
            if task.cancelled():
                result.set_result(
                    self._reject(
                        ErrorCode.T01_PEER_UNREACHABLE, f"link closed. account={self._account_id}"
                    )
                )
            elif (error := task.exception()) is not None:
                result.set_result(
                    self._reject(ErrorCode.T00_INTERNAL_ERROR, f"peer failed: {error!r}")
                )
            else:
                result.set_result(task.result())

        self._deliver(prepare.encode()).add_done_callback(settle)
        self._waiting.add(result)
        try:
            answer = await answer_by(self._clock, prepare.expires_at, result)
        finally:
            self._waiting.discard(result)
        if answer is None:
            return self._reject(ErrorCode.R00_TRANSFER_TIMED_OUT, "packet expired.")
        return answer

    async def close(self) -> None:
        """Stop: waiting sends answer T01, handlers still running for the other side stop."""
        self._closed = True
        for waiter in list(self._waiting):
            if not waiter.done():
                waiter.set_result(self._reject(ErrorCode.T01_PEER_UNREACHABLE, "link closed."))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def memory_link_pair(
    a_id: str,
    b_id: str,
    clock: Clock,
    *,
    a_address: str = "",
    b_address: str = "",
) -> tuple[MemoryLink, MemoryLink]:
    """Two joined ends: node A uses the first (its account `a_id` for B), node B the second
    (its account `b_id` for A). The addresses name each node in the rejects its end makes."""
    a = MemoryLink(a_id, clock, a_address)
    b = MemoryLink(b_id, clock, b_address)
    a._other, b._other = b, a
    return a, b
