"""SIGKILL a connector process with a packet in flight; the restarted process rolls it
back, and the books agree with what both neighbours saw (SQLite and Redis)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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
def node_process(store_url: str, port_file: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.connector.crash_node", store_url, str(port_file)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("connector process did not start")
            time.sleep(0.02)
        yield proc, int(port_file.read_text())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_restart_after_sigkill_rolls_back_in_flight(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path}/node.db"
    else:
        url = f"{request.getfixturevalue('redis_url')}?prefix={uuid.uuid4().hex}"
    clock = SystemClock()
    port_file = tmp_path / "port"
    arrived = asyncio.Event()

    async def hold(prepare: Prepare) -> Fulfill | Reject:
        if prepare.amount == 500:
            return Fulfill(FULFILLMENT)
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with node_process(url, port_file) as (proc, port):
        sender = BtpClientLink(f"ws://127.0.0.1:{port}", "n", "token-s", "sender")
        receiver = BtpClientLink(f"ws://127.0.0.1:{port}", "n", "token-r", "receiver")
        receiver.set_handler(hold)
        await sender.start()
        await receiver.start()
        paid = Prepare(500, clock.now() + timedelta(seconds=30), CONDITION, "test.n.receiver")
        assert await sender.send(paid) == Fulfill(FULFILLMENT)
        # One packet in flight, held by the receiver, then the process dies.
        held = Prepare(700, clock.now() + timedelta(seconds=2.2), CONDITION, "test.n.receiver")
        sending = asyncio.ensure_future(sender.send(held))
        await asyncio.wait_for(arrived.wait(), 10)
        store = await open_store(url)
        try:
            (in_flight,) = await store.pending_packets()
            assert (in_flight.incoming_amount, in_flight.outgoing_amount) == (700, 700)
        finally:
            await store.close()
        proc.kill()
        answer = await asyncio.wait_for(sending, 10)
        assert isinstance(answer, Reject)  # the sender saw it fail: it did not pay
        await sender.close()
        await receiver.close()

    with node_process(url, port_file):
        store = await open_store(url)
        try:
            deadline = time.monotonic() + 15
            while await store.pending_packets():
                assert time.monotonic() < deadline, "restarted connector left the packet"
                await asyncio.sleep(0.05)
            sender_book = await store.get_balance("sender")
            receiver_book = await store.get_balance("receiver")
            assert (sender_book.pending_in, receiver_book.pending_out) == (0, 0)
            # Only the first, fulfilled packet counts; the held one was rolled back.
            assert (sender_book.balance, receiver_book.balance) == (500, -500)
        finally:
            await store.close()
