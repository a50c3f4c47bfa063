"""Connector benchmark: one connector process between a BTP sender and a BTP receiver.

Targets, each its own process on 127.0.0.1, driven by this process's BTP sender and receiver
(`LeanChild`: BTP children with little Python work per packet, so that the load generator,
which shares the CPUs, takes as little as it can; the receiver fulfils at once). Every
Prepare differs from the others (its data is a counter): `ilp-connector` answers a repeated
Prepare from its deduplication cache without forwarding it.

* `ilpnet connector run` with the memory, SQLite and Redis stores;
* the JavaScript reference `ilp-connector` 23.0.2 with two `ilp-plugin-btp` 1.5.0 child
  accounts (`benchmarks/js/connector_bench.js`, installed from npm into `.npm-reference/`).

For each target and concurrency C, C senders loop for S seconds (closed loop): packets per
second and the round-trip time (p50/p99). "Added" latency subtracts the round trip of a
direct BTP link (sender → an in-process BTP server that fulfils) at the same load, so it
is what the connector and its second hop add. Then an open-loop run at half the target's
peak rate gives the p99 added latency there. Target: ilpnet ≥ 3× the reference's packets
per second; p99 added latency < 2 ms at half the peak rate.

    python benchmarks/connector.py [--json] [--seconds S] [--concurrency 1,8,32,128]
                                   [--stores memory,sqlite,redis] [--no-js]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from rich.console import Console
from rich.table import Table

from ilpnet.clock import SystemClock
from ilpnet.crypto.condition import condition_of
from ilpnet.links.btp import BtpAccount, BtpServer
from ilpnet.links.btp_session import ilp_frame, read_ilp_frame
from ilpnet.links.ws_batch import BatchWriter
from ilpnet.node.garbage_collection import tune_for_throughput
from ilpnet.wire.btp import BtpType, Error, Message, Response, auth_message, decode_btp, find_ilp
from ilpnet.wire.packet import Fulfill, Prepare, Reject

ROOT = Path(__file__).resolve().parent.parent
JS_SCRIPT = ROOT / "benchmarks" / "js" / "connector_bench.js"
NPM_PREFIX = ROOT / ".npm-reference"
NPM_PACKAGES = ("ilp-connector@23.0.2", "ilp-plugin-btp@1.5.0")
FULFILLMENT = bytes(range(32))
CONDITION = condition_of(FULFILLMENT)
START_TIMEOUT_S = 60.0
TARGET_RATIO = 3.0
TARGET_P99_ADDED_MS = 2.0
WRITE_EARLY = 32
"""Frames a `LeanChild` writes at once instead of at the next loop turn (as
`ilpnet.links.btp.WRITE_EARLY`)."""

Send = Callable[[Prepare], Awaitable[Fulfill | Reject]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def process_cpu_seconds(pid: int | None) -> tuple[float, float] | None:
    """(user, system) CPU seconds of `pid` so far (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Packets:
    """Prepares to `destination`, all with one condition, each with its own data (a
    counter): identical Prepares would be answered from `ilp-connector`'s deduplication
    cache without being forwarded. The expiry is renewed so they never expire."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.clock = SystemClock()
        self._made_at = -1.0
        self._prepare: Prepare | None = None
        self._count = 0

    def next(self) -> Prepare:
        now = time.monotonic()
        if self._prepare is None or now - self._made_at > 1.0:
            expires = self.clock.now() + timedelta(seconds=30)
            self._prepare = Prepare(1, expires, CONDITION, self.destination)
            self._made_at = now
        self._count += 1
        return self._prepare.with_changes(data=self._count.to_bytes(8, "big"))


@dataclass
class Run:
    concurrency: int
    packets: int
    rejects: int
    seconds: float
    latencies_ms: list[float]

    @property
    def pps(self) -> float:
        return self.packets / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "packets": self.packets,
            "rejects": self.rejects,
            "packets_per_s": round(self.pps, 1),
            "rtt_p50_ms": round(percentile(self.latencies_ms, 0.50), 3),
            "rtt_p99_ms": round(percentile(self.latencies_ms, 0.99), 3),
        }


async def closed_loop(send: Send, packets: Packets, concurrency: int, seconds: float) -> Run:
    """`concurrency` senders, each sending its next packet when the last is answered."""
    latencies: list[float] = []
    rejects = 0
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal rejects
        while time.monotonic() < stop_at:
            started = time.monotonic()
            answer = await send(packets.next())
            latencies.append((time.monotonic() - started) * 1000)
            if not isinstance(answer, Fulfill):
                rejects += 1

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    return Run(concurrency, len(latencies) - rejects, rejects, elapsed, latencies)


async def open_loop(send: Send, packets: Packets, rate: float, seconds: float) -> Run:
    """Packets sent at a fixed `rate` whatever the answers (latency at a given load)."""
    latencies: list[float] = []
    rejects = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one() -> None:
        nonlocal rejects
        started = time.monotonic()
        answer = await send(packets.next())
        latencies.append((time.monotonic() - started) * 1000)
        if not isinstance(answer, Fulfill):
            rejects += 1

    began = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - began) < seconds:
        while sent < int(elapsed * rate):
            task = asyncio.ensure_future(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    # wall time until the last answer: well past `seconds` means answers queued up
    return Run(0, len(latencies) - rejects, rejects, time.monotonic() - began, latencies)


# ---- targets ------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    send: Send
    packets: Packets
    versions: dict[str, str] | None = None
    pid: int | None = None
    """The connector process, whose CPU time per packet is measured."""


@contextlib.asynccontextmanager
async def direct_target() -> AsyncIterator[Target]:
    """Sender → an in-process BTP server that fulfils: the baseline round trip."""
    server = BtpServer([BtpAccount("sender", "direct-secret")], address="test.direct")

    async def fulfil(prepare: Prepare) -> Fulfill | Reject:
        return Fulfill(FULFILLMENT)

    server.link("sender").set_handler(fulfil)
    port = await server.start("127.0.0.1", 0)
    sender = LeanChild(f"ws://127.0.0.1:{port}", "direct-secret", "sender")
    await sender.start()
    try:
        yield Target("direct BTP (baseline)", sender.send, Packets("test.direct.x"))
    finally:
        await sender.close()
        await server.close()


class LeanChild:
    """A BTP child for the load generator only, cheaper per packet than `BtpClientLink`.

    It authenticates like any child, then sends Prepares (`send`) and, as a receiver,
    fulfils every Prepare it gets with one prepared frame: no task per packet, no codec on
    the way in (ILP frames are read by `read_ilp_frame`; a Fulfill is not decoded, only
    its type byte read), and the frames of one event-loop turn leave in one socket write
    (`BatchWriter`). The connector under test sees the same BTP as from `BtpClientLink`.
    """

    def __init__(self, url: str, token: str, username: str = "") -> None:
        self.url = url
        self.token = token
        self.username = username or None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._writer: BatchWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._queued: list[bytes] = []
        self._scheduled = False
        self._next_id = 1
        self._fulfill = Fulfill(FULFILLMENT)
        self._fulfill_raw = self._fulfill.encode()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        ws = self._ws = await self._http.ws_connect(self.url, max_msg_size=1 << 20)
        await ws.send_bytes(auth_message(0, self.token, self.username).encode())
        answer = await asyncio.wait_for(ws.receive(), START_TIMEOUT_S)
        if answer.type is not aiohttp.WSMsgType.BINARY or answer.data[0] != BtpType.RESPONSE:
            raise RuntimeError(f"BTP auth refused by {self.url}: {answer.data!r}")
        self._writer = BatchWriter.of(ws)
        if self._writer is None:
            raise RuntimeError("no batch writer for this socket")
        self._reader = asyncio.ensure_future(self._read(ws))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        rid = self._next_id
        self._next_id = (rid + 1) & 0xFFFFFFFF
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._queue(ilp_frame(BtpType.MESSAGE, rid, prepare.encode()))
        reply = await fut
        if reply[:1] == b"\x0d":
            return self._fulfill
        return Reject.decode(reply)

    def _queue(self, frame: bytes) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write_queued)
        self._queued.append(frame)
        if len(self._queued) >= WRITE_EARLY:  # as `BtpLink` does: the peer starts at once
            self._write()

    def _write_queued(self) -> None:
        self._scheduled = False
        self._write()

    def _write(self) -> None:
        frames, self._queued = self._queued, []
        if frames:
            assert self._writer is not None
            self._writer.write(frames)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.BINARY:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    continue
                break
            frame = read_ilp_frame(msg.data)
            if frame is None:  # not the usual shape: the full codec
                packet = decode_btp(msg.data)
                ilp = find_ilp(packet) if isinstance(packet, Message | Response) else None
                if isinstance(packet, Error):
                    ilp = Reject("T01", "", f"BTP error {packet.code}").encode()
                if ilp is None:
                    continue
                frame = (packet.TYPE, packet.request_id, ilp)
            kind, rid, ilp = frame
            if kind == BtpType.MESSAGE:  # a Prepare for the receiver: fulfil it
                self._queue(ilp_frame(BtpType.RESPONSE, rid, self._fulfill_raw))
            else:
                fut = self._pending.pop(rid, None)
                if fut is not None and not fut.done():
                    fut.set_result(ilp)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("socket closed"))


async def children(
    sender_url: str, receiver_url: str, sender_user: str = "", receiver_user: str = ""
) -> tuple[LeanChild, LeanChild]:
    sender = LeanChild(sender_url, "sender-secret", sender_user)
    receiver = LeanChild(receiver_url, "receiver-secret", receiver_user)
    await asyncio.gather(sender.start(), receiver.start())
    return sender, receiver


def ilpnet_config(store: str, port: int) -> str:
    return f"""
address = "test.bench"
store = "{store}"

[btp]
host = "127.0.0.1"
port = {port}

[accounts.sender]
relation = "child"
asset_code = "USD"
asset_scale = 2
link = {{ kind = "btp-server", token = "sender-secret" }}

[accounts.receiver]
relation = "child"
asset_code = "USD"
asset_scale = 2
link = {{ kind = "btp-server", token = "receiver-secret" }}
"""


async def wait_health(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"connector exited with {process.returncode}; see {log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise TimeoutError(f"connector not healthy in {START_TIMEOUT_S}s")
            await asyncio.sleep(0.05)


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def ilpnet_target(store_kind: str, workdir: Path, redis_url: str) -> AsyncIterator[Target]:
    store = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{workdir}/bench-{time.monotonic_ns()}.db",
        "redis": f"{redis_url}?prefix=bench-{time.monotonic_ns()}",
    }[store_kind]
    port = free_port()
    config = workdir / f"connector-{store_kind}.toml"
    config.write_text(ilpnet_config(store, port))
    log = workdir / f"connector-{store_kind}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ilpnet.cli.main",
            "connector",
            "run",
            "--config",
            str(config),
            "--log-level",
            "warning",
            stdout=out,
            stderr=out,
        )
    try:
        await wait_health(f"http://127.0.0.1:{port}/health", process, log)
        url = f"ws://127.0.0.1:{port}"
        sender, receiver = await children(url, url, "sender", "receiver")
        try:
            yield Target(
                f"ilpnet ({store_kind})",
                sender.send,
                Packets("test.bench.receiver"),
                pid=process.pid,
            )
        finally:
            await sender.close()
            await receiver.close()
    finally:
        await stop_process(process)


def npm_install() -> str | None:
    """Install the reference packages into .npm-reference/; None when ready, else why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node/npm not on PATH"
    wanted = []
    for spec in NPM_PACKAGES:
        name, _, version = spec.rpartition("@")
        manifest = NPM_PREFIX / "node_modules" / name / "package.json"
        try:
            if json.loads(manifest.read_text())["version"] == version:
                continue
        except (OSError, ValueError, KeyError):
            pass
        wanted.append(spec)
    if not wanted:
        return None
    import subprocess

    NPM_PREFIX.mkdir(exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", *wanted],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        return f"npm install failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None


async def read_ready(process: asyncio.subprocess.Process) -> dict[str, str]:
    """The versions from the script's ready line (ilp-connector logs to stdout too)."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        if not line:
            break
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            if isinstance(found, dict) and found.get("ready"):
                versions: dict[str, str] = found["versions"]
                return versions
    raise RuntimeError("ilp-connector exited before it was ready (see its log)")


async def drain(stream: asyncio.StreamReader) -> None:
    """Keep reading the node process's stdout so its logging never blocks on a full pipe."""
    while await stream.read(65536):
        pass


@contextlib.asynccontextmanager
async def js_target(workdir: Path) -> AsyncIterator[Target]:
    sender_port, receiver_port = free_port(), free_port()
    config = json.dumps({"senderPort": sender_port, "receiverPort": receiver_port})
    log = workdir / "ilp-connector.log"
    node = shutil.which("node") or "node"
    with log.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_SCRIPT),
            str(NPM_PREFIX / "node_modules"),
            config,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # the plugins listen before connector.listen() resolves
            try:
                with socket.create_connection(("127.0.0.1", receiver_port), 0.2):
                    break
            except OSError:
                if process.returncode is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"ilp-connector did not start: {tail}") from None
                await asyncio.sleep(0.05)
        sender, receiver = await children(
            f"ws://127.0.0.1:{sender_port}", f"ws://127.0.0.1:{receiver_port}"
        )
        versions = await read_ready(process)
        assert process.stdout is not None
        drainer = asyncio.ensure_future(drain(process.stdout))
        try:
            yield Target(
                "ilp-connector (JS)",
                sender.send,
                Packets("test.jsconn.receiver"),
                versions,
                process.pid,
            )
        finally:
            await sender.close()
            await receiver.close()
            await stop_process(process)
            await drainer
    finally:
        await stop_process(process)


# ---- the run ------------------------------------------------------------------------------


async def measure(
    target: Target, concurrencies: list[int], seconds: float, direct: dict[int, Run]
) -> dict[str, Any]:
    await closed_loop(target.send, target.packets, max(concurrencies), min(1.0, seconds))  # warm
    points = []
    for c in concurrencies:
        cpu_before = process_cpu_seconds(target.pid)
        own_before = time.process_time()
        run = await closed_loop(target.send, target.packets, c, seconds)
        own = time.process_time() - own_before
        cpu_after = process_cpu_seconds(target.pid)
        row = run.figures()
        if run.packets:
            # this process: the sender and the receiver (Python), on the same 2 CPUs
            row["load_generator_cpu_us_per_packet"] = round(own / run.packets * 1e6, 1)
        if cpu_before is not None and cpu_after is not None and run.packets:
            user, system = (
                after - before for after, before in zip(cpu_after, cpu_before, strict=True)
            )
            row["cpu_us_per_packet"] = round((user + system) / run.packets * 1e6, 1)
            row["cpu_system_us_per_packet"] = round(system / run.packets * 1e6, 1)
        base = direct.get(c)
        if base is not None:
            row["added_p50_ms"] = round(
                percentile(run.latencies_ms, 0.5) - percentile(base.latencies_ms, 0.5), 3
            )
            row["added_p99_ms"] = round(
                percentile(run.latencies_ms, 0.99) - percentile(base.latencies_ms, 0.99), 3
            )
        points.append(row)
    peak = max(p["packets_per_s"] for p in points)
    return {"points": points, "peak_packets_per_s": peak}


async def half_peak(target: Target, peak: float, seconds: float, direct: Target) -> dict[str, Any]:
    rate = peak / 2
    run = await open_loop(target.send, target.packets, rate, seconds)
    base = await open_loop(direct.send, direct.packets, rate, seconds)
    p99 = percentile(run.latencies_ms, 0.99)
    base_p99 = percentile(base.latencies_ms, 0.99)
    return {
        "rate_per_s": round(rate, 1),
        "achieved_per_s": round(run.packets / run.seconds, 1),
        "rejects": run.rejects,
        "rtt_p50_ms": round(percentile(run.latencies_ms, 0.5), 3),
        "rtt_p99_ms": round(p99, 3),
        "direct_p99_ms": round(base_p99, 3),
        "added_p99_ms": round(p99 - base_p99, 3),
        # the load generator could not send at the rate: the latencies are its queueing
        "saturated": run.seconds > seconds * 1.05 + 0.1,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    stores = [s for s in args.stores.split(",") if s]
    report: dict[str, Any] = {
        "method": "one connector process between a BTP sender and receiver on 127.0.0.1",
        "seconds_per_point": args.seconds,
        "concurrency": concurrencies,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "targets": {},
        "js_error": None,
    }
    redis = None
    with tempfile.TemporaryDirectory(prefix="ilpnet-bench-") as tmp:
        workdir = Path(tmp)
        if "redis" in stores:
            sys.path.insert(0, str(ROOT))
            from tests.redis_server import start_redis

            redis = start_redis(workdir / "redis", appendonly=False)
        try:
            async with direct_target() as direct:
                await closed_loop(direct.send, direct.packets, max(concurrencies), 0.5)
                direct_runs = {
                    c: await closed_loop(direct.send, direct.packets, c, args.seconds)
                    for c in concurrencies
                }
                report["direct"] = [r.figures() for r in direct_runs.values()]
                for kind in stores:
                    async with ilpnet_target(kind, workdir, redis.url if redis else "") as t:
                        found = await measure(t, concurrencies, args.seconds, direct_runs)
                        found["half_peak"] = await half_peak(
                            t, found["peak_packets_per_s"], args.seconds, direct
                        )
                        report["targets"][t.name] = found
                if args.no_js:
                    report["js_error"] = "skipped (--no-js)"
                else:
                    why_not = npm_install()
                    if why_not is not None:
                        report["js_error"] = why_not
                    else:
                        try:
                            async with js_target(workdir) as t:
                                found = await measure(t, concurrencies, args.seconds, direct_runs)
                                found["half_peak"] = await half_peak(
                                    t, found["peak_packets_per_s"], args.seconds, direct
                                )
                                found["versions"] = t.versions
                                report["targets"][t.name] = found
                        except (RuntimeError, TimeoutError, OSError) as exc:
                            report["js_error"] = str(exc)
        finally:
            if redis is not None:
                redis.process.terminate()
                redis.process.wait(10)
    js = report["targets"].get("ilp-connector (JS)")
    report["ratios"] = {
        name: (
            round(t["peak_packets_per_s"] / js["peak_packets_per_s"], 2)
            if js and js["peak_packets_per_s"]
            else None
        )
        for name, t in report["targets"].items()
        if name.startswith("ilpnet")
    }
    report["cpu_ratios"] = {
        name: cpu_ratio(t, js) for name, t in report["targets"].items() if name.startswith("ilpnet")
    }
    report["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    return report


def cpu_ratio(ours: dict[str, Any], js: dict[str, Any] | None) -> float | None:
    """The reference's connector CPU per packet over ours, at the highest concurrency."""
    if js is None:
        return None
    mine: float | None = ours["points"][-1].get("cpu_us_per_packet")
    theirs: float | None = js["points"][-1].get("cpu_us_per_packet")
    if not mine or not theirs:
        return None
    return round(theirs / mine, 2)


def print_table(report: dict[str, Any]) -> None:
    console = Console(width=max(140, shutil.get_terminal_size().columns))
    table = Table(title="Connector: packets/s and latency (ms) by concurrency")
    columns = ("target", "conc.", "packets/s", "RTT p50", "RTT p99", "added p50", "added p99")
    for col in (*columns, "CPU µs/packet", "load gen. µs/packet"):
        table.add_column(col, justify="right" if col != "target" else "left")
    for row in report.get("direct", []):
        table.add_row(
            "direct BTP (baseline)",
            str(row["concurrency"]),
            f"{row['packets_per_s']:,.0f}",
            f"{row['rtt_p50_ms']:.2f}",
            f"{row['rtt_p99_ms']:.2f}",
            "",
            "",
        )
    for name, found in report["targets"].items():
        for row in found["points"]:
            table.add_row(
                name,
                str(row["concurrency"]),
                f"{row['packets_per_s']:,.0f}",
                f"{row['rtt_p50_ms']:.2f}",
                f"{row['rtt_p99_ms']:.2f}",
                f"{row.get('added_p50_ms', float('nan')):.2f}",
                f"{row.get('added_p99_ms', float('nan')):.2f}",
                f"{row.get('cpu_us_per_packet', float('nan')):.0f}",
                f"{row.get('load_generator_cpu_us_per_packet', float('nan')):.0f}",
            )
    console.print(table)
    half = Table(title="At half the peak rate (open loop)")
    for col in ("target", "rate/s", "RTT p50", "RTT p99", "direct p99", "added p99", "note"):
        half.add_column(col, justify="left" if col in ("target", "note") else "right")
    for name, found in report["targets"].items():
        h = found["half_peak"]
        half.add_row(
            name,
            f"{h['rate_per_s']:,.0f}",
            f"{h['rtt_p50_ms']:.2f}",
            f"{h['rtt_p99_ms']:.2f}",
            f"{h['direct_p99_ms']:.2f}",
            f"{h['added_p99_ms']:.2f}",
            "load generator saturated" if h["saturated"] else "",
        )
    console.print(half)
    for name, ratio in report["ratios"].items():
        verdict = "" if ratio is None else (" (target met)" if ratio >= TARGET_RATIO else "")
        shown = "n/a" if ratio is None else f"{ratio:.2f}x"
        console.print(f"{name} peak vs ilp-connector peak: {shown}{verdict}")
        cpu = report["cpu_ratios"].get(name)
        if cpu is not None:
            console.print(f"  ilp-connector CPU per packet / {name}'s: {cpu:.2f}x")
    if report["js_error"]:
        console.print(f"JS reference not measured: {report['js_error']}")
    m = report["machine"]
    console.print(
        f"load average {m['load_avg_1m']} before, {m['load_avg_1m_after']} after "
        f"({m['cpus']} CPUs, shared)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--concurrency", default="1,8,32,128")
    parser.add_argument("--stores", default="memory,sqlite,redis")
    parser.add_argument("--no-js", action="store_true", help="skip the JS reference")
    args = parser.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    tune_for_throughput()  # the load generator's own collector, as in `connector run`
    report = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
