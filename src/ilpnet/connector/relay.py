"""Several worker processes of one connector, sharing one Redis (issue 4, "Workers").

Each link is owned by one worker. A packet that enters on one worker and must leave on a
link another worker owns is relayed through Redis: the entering worker runs the whole
pipeline (reservation, in-flight record, timer, fulfillment check) as usual, and its
`RelayLink` for that account pushes the rewritten Prepare onto the owner's request list;
the owner's `WorkerRelay` sends it on its real link and pushes the answer back onto the
entering worker's reply list. The pipeline never knows: a RelayLink is just a Link.

    {prefix}:relay:{worker}   list  requests for links `worker` owns
    {prefix}:reply:{worker}   list  answers to requests `worker` relayed

A request is ``reply_to \\n request_id \\n account \\n`` + the Prepare's bytes; an answer
``request_id \\n`` + the Fulfill's or Reject's bytes. A worker that is down simply never
answers: the entering worker's own timer answers R00 at the outgoing expiry, as for any
silent peer.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

import structlog

from ilpnet.clock import Clock
from ilpnet.connector.store.resp import RespClient
from ilpnet.links.base import IncomingHandler, Link
from ilpnet.links.deadline import answer_by
from ilpnet.wire.errors import DecodeError, ErrorCode
from ilpnet.wire.packet import Fulfill, Prepare, Reject, decode_packet

log = structlog.get_logger(__name__)

POP_TIMEOUT_S = 1
"""How long one blocking pop waits (so a closing worker notices within a second)."""
DRAIN = 256
"""After a blocking pop, take up to this many more messages at once."""


class RelayLink:
    """A Link to an account whose real link another worker owns."""

    def __init__(self, relay: WorkerRelay, account_id: str, owner: str) -> None:
        self._relay = relay
        self._account_id = account_id
        self.owner = owner

    @property
    def account_id(self) -> str:
        return self._account_id

    def set_handler(self, handler: IncomingHandler) -> None:
        """Prepares from this account arrive at the owner, never here."""

    async def start(self) -> None:
        return None

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        return await self._relay.request(self.owner, self._account_id, prepare)

    async def close(self) -> None:
        return None


class WorkerRelay:
    """One worker's end of the relay: serves its own links to the others, and sends to
    theirs."""

    def __init__(
        self,
        url: str,
        worker_id: str,
        clock: Clock,
        *,
        prefix: str = "ilpnet",
        address: str = "",
    ) -> None:
        if "\n" in worker_id or not worker_id:
            raise ValueError(f"bad worker id {worker_id!r}")
        self.worker_id = worker_id
        self.address = address
        """This connector's ILP address: `triggered_by` of the relay's own rejects."""
        self._clock = clock
        self._prefix = prefix
        self._url = url
        self._client = RespClient(url)
        self._links: dict[str, Link] = {}
        self._waiting: dict[str, asyncio.Future[bytes]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    def _requests(self, worker: str) -> str:
        return f"{self._prefix}:relay:{worker}"

    def _replies(self, worker: str) -> str:
        return f"{self._prefix}:reply:{worker}"

    def link(self, account_id: str, owner: str) -> RelayLink:
        """The Link this worker attaches for `account_id`, whose real link `owner` has."""
        return RelayLink(self, account_id, owner)

    def serve(self, link: Link) -> None:
        """Let the other workers send on `link` (one this worker owns)."""
        self._links[link.account_id] = link

    async def start(self) -> None:
        await self._client.call("PING")
        self._loops = [
            asyncio.ensure_future(self._pop_forever(self._requests(self.worker_id), self._serve)),
            asyncio.ensure_future(self._pop_forever(self._replies(self.worker_id), self._answer)),
        ]

    async def close(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.cancel()
        await self._client.close()

    # ---- sending through another worker ------------------------------------------------

    async def request(self, owner: str, account_id: str, prepare: Prepare) -> Fulfill | Reject:
        request_id = f"{self.worker_id}-{next(self._ids)}"
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answer
        try:
            header = f"{self.worker_id}\n{request_id}\n{account_id}\n".encode()
            await self._client.call("RPUSH", self._requests(owner), header + prepare.encode())
            raw = await answer_by(self._clock, prepare.expires_at, answer)
        finally:
            self._waiting.pop(request_id, None)
        if raw is None:
            return Reject(ErrorCode.R00_TRANSFER_TIMED_OUT.value, self.address, "packet expired.")
        packet = decode_packet(raw)
        if isinstance(packet, Prepare):
            raise DecodeError("relay answered with a Prepare", 0)
        return packet

    async def _answer(self, message: bytes) -> None:
        request_id, _, raw = message.partition(b"\n")
        waiting = self._waiting.get(request_id.decode())
        if waiting is not None and not waiting.done():
            waiting.set_result(raw)

    # ---- serving the other workers -----------------------------------------------------

    async def _serve(self, message: bytes) -> None:
        reply_to, request_id, account_id, raw = message.split(b"\n", 3)
        self._spawn(self._relay(reply_to.decode(), request_id, account_id.decode(), raw))

    async def _relay(self, reply_to: str, request_id: bytes, account_id: str, raw: bytes) -> None:
        link = self._links.get(account_id)
        if link is None:
            answer: Fulfill | Reject = Reject(
                ErrorCode.T01_PEER_UNREACHABLE.value,
                self.address,
                f"peer unreachable. account={account_id}",
            )
        else:
            answer = await link.send(Prepare.decode(raw))
        await self._client.call(
            "RPUSH", self._replies(reply_to), request_id + b"\n" + answer.encode()
        )

    # ---- plumbing ----------------------------------------------------------------------

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("relay.failed", worker=self.worker_id, error=repr(task.exception()))

    async def _pop_forever(self, key: str, handle: Any) -> None:
        client = RespClient(self._url)  # its own connection: BLPOP blocks it
        try:
            while True:
                try:
                    found = await client.call("BLPOP", key, POP_TIMEOUT_S)
                    if found is None:
                        continue
                    more = await client.call("LPOP", key, DRAIN)
                except ConnectionError:
                    log.warning("relay.redis_unreachable", worker=self.worker_id)
                    await self._clock.sleep(0.5)
                    continue
                for message in [found[1], *(more or [])]:
                    try:
                        await handle(message)
                    except Exception:
                        log.exception("relay.bad_message", worker=self.worker_id, key=key)
        finally:
            await client.close()
