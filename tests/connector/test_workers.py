"""Two worker processes of one connector share a real Redis: a child connected to one
worker pays a child connected to the other, and back; one set of books."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from ilpnet.clock import SystemClock
from ilpnet.connector.store import open_store
from ilpnet.links.btp import BtpClientLink
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@contextmanager
def worker(args: list[str], port_file: Path) -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.connector.worker_node", *args, str(port_file)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker process did not start")
            time.sleep(0.02)
        yield int(port_file.read_text())
    finally:
        proc.kill()
        proc.wait()


async def test_payments_cross_two_worker_processes(redis_url: str, tmp_path: Path) -> None:
    prefix = uuid.uuid4().hex
    clock = SystemClock()
    with ExitStack() as stack:
        port_one = stack.enter_context(
            worker([redis_url, prefix, "one", "alice", "two", "bob"], tmp_path / "one")
        )
        port_two = stack.enter_context(
            worker([redis_url, prefix, "two", "bob", "one", "alice"], tmp_path / "two")
        )
        alice = BtpClientLink(f"ws://127.0.0.1:{port_one}", "w", "token-alice", "alice")
        bob = BtpClientLink(f"ws://127.0.0.1:{port_two}", "w", "token-bob", "bob")
        got: list[str] = []

        async def fulfil(prepare: Prepare) -> Fulfill | Reject:
            got.append(prepare.destination)
            return Fulfill(FULFILLMENT)

        alice.set_handler(fulfil)
        bob.set_handler(fulfil)
        await alice.start()
        await bob.start()
        try:
            expires = clock.now() + timedelta(seconds=10)
            answers = await asyncio.gather(
                *(alice.send(Prepare(100, expires, CONDITION, "test.bob.x")) for _ in range(10))
            )
            assert answers == [Fulfill(FULFILLMENT)] * 10
            back = await bob.send(Prepare(250, expires, CONDITION, "test.alice.y"))
            assert back == Fulfill(FULFILLMENT)
            assert sorted(got) == ["test.alice.y"] + ["test.bob.x"] * 10
        finally:
            await alice.close()
            await bob.close()
        store = await open_store(f"{redis_url}?prefix={prefix}")
        try:
            assert (await store.get_balance("alice")).balance == 1000 - 250
            assert (await store.get_balance("bob")).balance == 250 - 1000
            assert await store.pending_packets() == []
        finally:
            await store.close()
