"""What forwarding a packet must cost in CPython: a floor for the connector benchmark.

`benchmarks/connector.py` measures `ilpnet connector run`. This script measures stripped
forwarders on the same sockets, driven by the same load generator (its `LeanChild`
sender and receiver, concurrency 128), each its own process, so that the connector's
CPU time per packet can be read against what the work itself needs:

* ``frames``: the BTP frames only; a Message from the sender goes to the receiver under
  a new request id, the Response comes back under the old one (aiohttp WebSocket server,
  `BatchWriter`, our `read_ilp_frame`/`ilp_frame`; no task per packet).
* ``essentials``: also what a connector must do per packet: decode the Prepare, refuse it
  if expired, reserve the incoming amount under a maximum, find the route (a cache by
  destination), convert (1:1), shorten the expiry, record the packet, re-encode it; on
  the Fulfill check SHA-256(fulfillment) = condition and move both books.
* ``metrics``: ``essentials`` plus the connector's Prometheus metrics per packet
  (`ConnectorMetrics.observe`).

None of these is a connector (no other reject path, no deadline, no store interface):
they bound from below what one could reach without the layers the connector has.

    python benchmarks/forwarder_floor.py [--seconds S] [--work frames,essentials,metrics]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import WSMsgType, web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from connector import (  # the sibling benchmark, for its load generator
    Packets,
    children,
    closed_loop,
    free_port,
    process_cpu_seconds,
    wait_health,
)
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.connector.pipeline import Forward
from ilpnet.links.btp_session import ilp_frame, read_ilp_frame
from ilpnet.links.ws_batch import BatchWriter
from ilpnet.node.garbage_collection import tune_for_throughput
from ilpnet.wire.btp import BtpType, Message, decode_btp
from ilpnet.wire.packet import Fulfill, Prepare, Reject

WORKS = ("frames", "essentials", "metrics")
WRITE_EARLY = 32
MIN_WINDOW = timedelta(seconds=1)
MAX_HOLD = timedelta(seconds=30)
MAXIMUM = 10**15


class Peer:
    """One WebSocket: frames queued this loop turn go out in one write."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.name = ""
        self._writer: BatchWriter | None = None
        self._queued: list[bytes] = []
        self._scheduled = False

    def send(self, frame: bytes) -> None:
        self._queued.append(frame)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._turn)
        if len(self._queued) >= WRITE_EARLY:
            self._write()

    def _turn(self) -> None:
        self._scheduled = False
        self._write()

    def _write(self) -> None:
        frames, self._queued = self._queued, []
        if not frames:
            return
        if self._writer is None:
            self._writer = BatchWriter.of(self.ws)
            if self._writer is None:
                raise RuntimeError("no batch writer for this socket")
        self._writer.write(frames)


@dataclass
class Record:
    """What the answer needs: where it goes back, the amounts and the condition."""

    packet_id: str
    incoming: Peer
    request_id: int
    amount: int
    outgoing: str
    out_amount: int
    condition: bytes
    started: float
    prepare: Prepare


@dataclass
class Forwarder:
    work: str
    peers: dict[str, Peer] = field(default_factory=dict)
    books: dict[str, list[int]] = field(default_factory=dict)
    """balance, pending in, pending out (as the stores keep them)."""
    routes: dict[str, str] = field(default_factory=dict)
    pending: dict[int, Record] = field(default_factory=dict)
    ended: dict[str, bool] = field(default_factory=dict)
    metrics: ConnectorMetrics = field(default_factory=ConnectorMetrics)
    next_id: int = 1
    count: int = 0

    def receive(self, peer: Peer, raw: bytes) -> None:
        frame = read_ilp_frame(raw)
        if frame is None:
            self._auth(peer, raw)
            return
        kind, request_id, ilp = frame
        if kind == BtpType.MESSAGE:
            self._prepare(peer, request_id, ilp)
        else:
            self._answer(request_id, ilp)

    def _auth(self, peer: Peer, raw: bytes) -> None:
        packet = decode_btp(raw)
        if isinstance(packet, Message):
            names = [p.data for p in packet.protocol_data if p.protocol_name == "auth_username"]
            peer.name = names[0].decode() if names else ""
            self.peers[peer.name] = peer
            self.books[peer.name] = [0, 0, 0]
            rid = packet.request_id.to_bytes(4, "big")
            peer.send(bytes((BtpType.RESPONSE,)) + rid + b"\x01\x00")

    def _prepare(self, peer: Peer, request_id: int, ilp: bytes) -> None:
        out_id = self.next_id
        self.next_id = (out_id + 1) & 0xFFFFFFFF
        if self.work == "frames":
            self.pending[out_id] = Record("", peer, request_id, 0, "", 0, b"", 0.0, PREPARE)
            self.peers["receiver"].send(ilp_frame(BtpType.MESSAGE, out_id, ilp))
            return
        prepare = Prepare.decode(ilp)
        now = datetime.now(UTC)
        expires_at = prepare.expires_at
        if expires_at <= now:
            raise RuntimeError("expired (R00)")
        amount = prepare.amount
        book = self.books[peer.name]
        if book[0] + amount > MAXIMUM:
            raise RuntimeError("over the maximum (T04)")
        book[0] += amount
        book[1] += amount
        destination = prepare.destination
        outgoing = self.routes.get(destination)
        if outgoing is None:
            outgoing = self.routes[destination] = "receiver"
        out_amount = amount
        out_expires_at = min(expires_at - MIN_WINDOW, now + MAX_HOLD)
        if out_expires_at - now < MIN_WINDOW:
            raise RuntimeError("too little time (R02)")
        self.count += 1
        self.books[outgoing][2] += out_amount
        self.pending[out_id] = Record(
            f"floor-{self.count}",
            peer,
            request_id,
            amount,
            outgoing,
            out_amount,
            prepare.execution_condition,
            time.monotonic(),
            prepare,
        )
        sent = prepare.with_changes(amount=out_amount, expires_at=out_expires_at)
        self.peers[outgoing].send(ilp_frame(BtpType.MESSAGE, out_id, sent.encode()))

    def _answer(self, request_id: int, ilp: bytes) -> None:
        record = self.pending.pop(request_id, None)
        if record is None:
            return
        if self.work != "frames":
            if ilp[0] == 13:  # a Fulfill: its fulfillment, the 32 bytes after a 1-byte length
                fulfillment = ilp[2:34]
                if hashlib.sha256(fulfillment).digest() != record.condition:
                    raise RuntimeError("wrong fulfillment (F05)")
                self.books[record.incoming.name][1] -= record.amount
                out_book = self.books[record.outgoing]
                out_book[0] -= record.out_amount
                out_book[2] -= record.out_amount
            self.ended[record.packet_id] = ilp[0] == 13
            if self.work == "metrics":
                account = ACCOUNTS[record.incoming.name]
                fwd = Forward(record.packet_id, account, record.prepare, datetime.now(UTC))
                fwd.facts.out_account = record.outgoing
                fwd.facts.out_amount = record.out_amount
                fwd.facts.recorded = True
                answer = FULFILL if ilp[0] == 13 else Reject.decode(ilp)
                self.metrics.observe(fwd, answer, time.monotonic() - record.started)
        record.incoming.send(ilp_frame(BtpType.RESPONSE, record.request_id, ilp))


PREPARE = Packets("test.floor.receiver").next()
FULFILL = Fulfill(bytes(32))
ACCOUNTS = {
    name: AccountSettings(id=name, relation=Relation.CHILD, asset_code="USD", asset_scale=2)
    for name in ("sender", "receiver")
}


async def serve(port: int, work: str) -> None:
    forwarder = Forwarder(work)

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        peer = Peer(ws)
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                forwarder.receive(peer, msg.data)
        return ws

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/", socket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    tune_for_throughput()  # as `ilpnet connector run` does
    await asyncio.Event().wait()


async def measure(work: str, seconds: float, concurrency: int) -> dict[str, float]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(port), "--work", work
    )
    try:
        await wait_health(f"http://127.0.0.1:{port}/health", process, Path(__file__))
        url = f"ws://127.0.0.1:{port}/"
        sender, receiver = await children(url, url, "sender", "receiver")
        packets = Packets("test.floor.receiver")
        await closed_loop(sender.send, packets, concurrency, min(1.0, seconds))  # warm up
        before = process_cpu_seconds(process.pid)
        run = await closed_loop(sender.send, packets, concurrency, seconds)
        after = process_cpu_seconds(process.pid)
        await sender.close()
        await receiver.close()
    finally:
        process.kill()
        await process.wait()
    assert before is not None
    assert after is not None
    cpu = sum(after) - sum(before)
    return {
        "packets_per_s": round(run.pps),
        "cpu_us_per_packet": round(cpu / max(1, run.packets) * 1e6, 1),
        "rejects": run.rejects,
    }


async def drive(works: list[str], seconds: float, concurrency: int) -> None:
    print(f"concurrency {concurrency}, {seconds:g} s each")
    for work in works:
        figures = await measure(work, seconds, concurrency)
        print(
            f"{work:<11} {figures['packets_per_s']:>8,} packets/s  "
            f"{figures['cpu_us_per_packet']:>5} µs CPU/packet  rejects {figures['rejects']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--work", default=",".join(WORKS))
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    works = [w for w in args.work.split(",") if w]
    unknown = [w for w in works if w not in WORKS]
    if unknown:
        parser.error(f"unknown --work {unknown[0]!r}; choose from {', '.join(WORKS)}")
    if args.serve is not None:
        asyncio.run(serve(args.serve, works[0]))
        return
    asyncio.run(drive(works, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
