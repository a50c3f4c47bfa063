"""Ledger throughput: escrow create+fulfil pairs/s and transfers/s against one ledger server
subprocess over loopback, with N concurrent clients (each a sender/receiver account pair).

    python benchmarks/ledger.py [--json] [--clients N] [--seconds S] [--fee F]

The server runs as `python -m ilpnet.cli.ledger serve` on a temporary database (WAL,
synchronous=FULL: every acknowledged write is fsynced; group commit batches concurrent
writes). Each client (one keep-alive connection, a minimal HTTP/1.1 client so the load generator
leaves the CPU to the server) loops: create escrow (sender) -> fulfil it (receiver); then,
in a second phase of the same length, simple transfers. Accounts are set up, and the books
checked at the end, with `LedgerClient`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import format_time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(
    directory: Path, fee: int, close_interval: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = [
        sys.executable, "-m", "ilpnet.cli.ledger", "serve",
        "--name", "bench.xrp", "--asset", "XRP", "--scale", "6",
        "--fee", str(fee), "--close-interval", str(close_interval),
        "--port", str(port), "--db", str(directory / "bench.sqlite3"),
        "--faucet-per-account", "1000000", "--faucet-per-client", "1000000",
        "--faucet-max", str(10**15),
    ]  # fmt: skip
    log = (directory / "server.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=1):  # noqa: S310
            return proc, url
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("ledger server did not become healthy")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_commit(before: dict[str, object], after: dict[str, object]) -> float:
    commits = int(str(after["commits"])) - int(str(before["commits"]))
    writes = int(str(after["writes"])) - int(str(before["writes"]))
    return round(writes / max(commits, 1), 1)


def busy_share(before: dict[str, object], after: dict[str, object], seconds: float) -> float:
    busy = float(str(after["commit_busy_seconds"])) - float(str(before["commit_busy_seconds"]))
    return round(busy / seconds, 2)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed_loop(
    clients: int, seconds: float, step: Callable[[int, int], Awaitable[None]]
) -> tuple[int, list[float]]:
    """Run `step(client, i)` in `clients` concurrent loops for `seconds`; count and time them."""
    done = 0
    latencies: list[float] = []
    end = time.monotonic() + seconds

    async def worker(c: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < end:
            t0 = time.monotonic()
            await step(c, i)
            latencies.append(time.monotonic() - t0)
            done += 1
            i += 1

    await asyncio.gather(*(worker(c) for c in range(clients)))
    return done, latencies


class RawConnection:
    """A minimal keep-alive HTTP/1.1 JSON client (one request at a time), so the load
    generator spends as little CPU as possible and the server gets the cores."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def post(self, path: str, auth: str, body: dict[str, str]) -> dict[str, object]:
        raw = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
            + raw
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        answer: dict[str, object] = json.loads(await self.reader.readexactly(length))
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status} {answer}")
        return answer

    def close(self) -> None:
        self.writer.close()


async def bench(url: str, clients: int, seconds: float, pid: int) -> dict[str, float | int]:
    connector = aiohttp.TCPConnector(limit=clients * 2 + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        root = LedgerClient(url, session=session)
        senders: list[LedgerClient] = []
        receivers: list[LedgerClient] = []
        for c in range(clients):
            for role, bucket in (("s", senders), ("r", receivers)):
                name, secret = f"{role}{c}", f"{role}{c}-bench-secret"
                await root.create_account(name, secret)
                bucket.append(root.as_account(name, secret))
            await senders[c].faucet(10**14)
        preimage = os.urandom(32)
        condition = hashlib.sha256(preimage).digest().hex()
        expires = format_time(datetime.now(UTC) + timedelta(minutes=10))
        memo = base64.b64encode(b"x" * 64).decode()
        conns = [await RawConnection.open(url) for _ in range(clients)]

        async def escrow_pair(c: int, i: int) -> None:
            escrow = await conns[c].post(
                "/escrows",
                f"s{c}:s{c}-bench-secret",
                {"id": f"e{i}", "to": f"r{c}", "amount": "1", "condition": condition,
                 "expires_at": expires, "memo": memo},
            )  # fmt: skip
            await conns[c].post(
                f"/escrows/{escrow['id']}/fulfil",
                f"r{c}:r{c}-bench-secret",
                {"id": f"f{i}", "preimage": preimage.hex()},
            )

        async def transfer(c: int, i: int) -> None:
            await conns[c].post(
                "/transfers",
                f"s{c}:s{c}-bench-secret",
                {"id": f"t{i}", "to": f"r{c}", "amount": "1"},
            )

        health0 = await root.status()
        server0, client0 = process_cpu(pid), time.process_time()
        pairs, pair_lat = await timed_loop(clients, seconds, escrow_pair)
        server1, client1 = process_cpu(pid), time.process_time()
        health1 = await root.status()
        transfers, tr_lat = await timed_loop(clients, seconds, transfer)
        server2, client2 = process_cpu(pid), time.process_time()
        health2 = await root.status()
        for conn in conns:
            conn.close()
        books = await root.books()
        if not books.balanced:
            raise RuntimeError(f"books do not balance after the benchmark: {books}")
    return {
        "clients": clients,
        "seconds": seconds,
        "escrow_pairs_per_s": round(pairs / seconds, 1),
        "escrow_pair_p50_ms": round(percentile(pair_lat, 0.5) * 1000, 2),
        "escrow_pair_p99_ms": round(percentile(pair_lat, 0.99) * 1000, 2),
        "transfers_per_s": round(transfers / seconds, 1),
        "transfer_p50_ms": round(percentile(tr_lat, 0.5) * 1000, 2),
        "transfer_p99_ms": round(percentile(tr_lat, 0.99) * 1000, 2),
        "server_cpu_us_per_pair": round((server1 - server0) / max(pairs, 1) * 1e6),
        "client_cpu_us_per_pair": round((client1 - client0) / max(pairs, 1) * 1e6),
        "server_cpu_us_per_transfer": round((server2 - server1) / max(transfers, 1) * 1e6),
        "client_cpu_us_per_transfer": round((client2 - client1) / max(transfers, 1) * 1e6),
        "escrow_writes_per_commit": per_commit(health0, health1),
        "transfer_writes_per_commit": per_commit(health1, health2),
        "escrow_commit_busy_share": busy_share(health0, health1, seconds),
        "transfer_commit_busy_share": busy_share(health1, health2, seconds),
        "cpus": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fee", type=int, default=0)
    parser.add_argument("--close-interval", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ilpnet-bench-") as tmp:
        proc, url = start_server(Path(tmp), args.fee, args.close_interval)
        try:
            result = asyncio.run(bench(url, args.clients, args.seconds, proc.pid))
        finally:
            proc.terminate()
            proc.wait(10)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
