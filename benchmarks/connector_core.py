"""Connector core throughput: packets/s and latency through one in-process connector.

    python benchmarks/connector_core.py [--json] [--packets N] [--stores memory,sqlite,redis]

A sender and a receiver are joined to one `Connector` by memory links (real codecs on each
hop, no sockets); the receiver fulfils at once. For each store and each concurrency (1, 10,
100 senders in parallel) it sends N packets and reports packets/s and the p50/p99 round
trip. This measures the pipeline and the store; `benchmarks/connector.py` (BTP between
processes, against the JavaScript reference) measures the whole node. Redis is a real
server started on a free loopback port (as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.redis_server import start_redis

from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import open_store
from ilpnet.crypto.condition import condition_of
from ilpnet.links.memory import memory_link_pair
from ilpnet.wire.packet import Fulfill, Prepare, Reject

FULFILLMENT = bytes(range(32))
CONDITION = condition_of(FULFILLMENT)
CONCURRENCY = (1, 10, 100)


async def measure(url: str, packets: int, concurrency: int) -> dict[str, float]:
    clock = SystemClock()
    store = await open_store(url)
    accounts = [
        AccountSettings(id="sender", relation=Relation.CHILD, asset_code="USD", asset_scale=2),
        AccountSettings(id="receiver", relation=Relation.PEER, asset_code="USD", asset_scale=2),
    ]
    sender, c_sender = memory_link_pair("c", "sender", clock)
    c_receiver, receiver = memory_link_pair("receiver", "c", clock)
    node = Connector(
        "test.c",
        accounts,
        store,
        clock,
        links=[c_sender, c_receiver],
        routes=[Route("test.r", "receiver")],
    )

    async def fulfil(prepare: Prepare) -> Fulfill | Reject:
        return Fulfill(FULFILLMENT)

    receiver.set_handler(fulfil)
    await node.start()
    latencies: list[float] = []

    async def one_sender(count: int) -> None:
        for _ in range(count):
            prepare = Prepare(10, clock.now() + timedelta(seconds=30), CONDITION, "test.r.x")
            started = time.perf_counter()
            answer = await sender.send(prepare)
            latencies.append(time.perf_counter() - started)
            if not isinstance(answer, Fulfill):
                raise RuntimeError(f"unexpected answer {answer!r}")

    per_sender = max(1, packets // concurrency)
    started = time.perf_counter()
    await asyncio.gather(*(one_sender(per_sender) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await node.close()
    await store.close()
    latencies.sort()
    total = per_sender * concurrency
    return {
        "packets_per_second": round(total / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--packets", type=int, default=5000, help="per store and concurrency")
    parser.add_argument("--stores", default="memory,sqlite,redis")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        redis = None
        try:
            for kind in args.stores.split(","):
                if kind == "memory":
                    url = "memory://"
                elif kind == "sqlite":
                    url = f"sqlite:///{tmp}/bench.db"
                elif kind == "redis":
                    redis = redis or start_redis(Path(tmp) / "redis")
                    url = f"{redis.url}?prefix={uuid.uuid4().hex}"
                else:
                    parser.error(f"unknown store {kind!r}")
                results[kind] = {}
                for concurrency in CONCURRENCY:
                    await measure(url, min(500, args.packets), concurrency)  # warm up
                    figures = await measure(url, args.packets, concurrency)
                    results[kind][str(concurrency)] = figures
                    if not args.json:
                        print(
                            f"{kind:7} concurrency {concurrency:4}: "
                            f"{figures['packets_per_second']:7} packets/s  "
                            f"p50 {figures['p50_ms']:7.3f} ms  p99 {figures['p99_ms']:7.3f} ms",
                            flush=True,
                        )
        finally:
            if redis is not None:
                redis.kill()
    if args.json:
        print(json.dumps({"connector_core": results}))


if __name__ == "__main__":
    asyncio.run(main())
