"""`ilpnet up` as a user runs it: real child processes on loopback, Ctrl-C, restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ilpnet.ledger.client import LedgerClient

pytestmark = pytest.mark.slow

READY_TIMEOUT = 60.0


class UpProcess:
    """A running `ilpnet up`, with its output collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._new_line = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace"))
            self._new_line.set()

    async def wait_for(self, text: str, within: float = READY_TIMEOUT) -> None:
        async def scan() -> None:
            while not any(text in line for line in self.lines):
                if self.proc.returncode is not None and self._reader.done():
                    raise AssertionError(f"ilpnet up exited: {''.join(self.lines)}")
                self._new_line.clear()
                await self._new_line.wait()

        try:
            await asyncio.wait_for(scan(), within)
        except TimeoutError:
            raise AssertionError(f"no {text!r} within {within} s: {''.join(self.lines)}") from None

    async def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        await self._reader
        return code


@asynccontextmanager
async def ilpnet_up(state_dir: Path, *args: str) -> AsyncIterator[UpProcess]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ilpnet.cli.main",
        "up",
        "--state-dir",
        str(state_dir),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    up = UpProcess(proc)
    try:
        yield up
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ilpnet.cli.main",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_up_runs_the_default_network_and_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "net"
    async with ilpnet_up(state) as up:
        await up.wait_for("is up")
        network = json.loads((state / "network.json").read_text())
        kinds = sorted(p["kind"] for p in network["parts"])
        assert kinds == ["dashboard", "ledger", "ledger", "ledger"]
        ports = [p["url"].rsplit(":", 1)[1] for p in network["parts"]]
        assert len(set(ports)) == len(ports)
        pids = [p["pid"] for p in network["parts"]]

        code, out = await run_cli("status", "--state-dir", str(state))
        assert code == 0, out
        assert out.count(" ok ") == 4, out

        xrp = network["ledgers"]["xrp"]["url"]
        async with LedgerClient(xrp) as anon:
            await anon.create_account("alice", "alice-secret")
        async with LedgerClient(xrp, "alice", "alice-secret") as alice:
            await alice.faucet(12345)
            assert await alice.balance() == 12345

        assert await up.interrupt() == 0
    assert "stopped" in "".join(up.lines)
    assert not any(pid_alive(pid) for pid in pids), "a part outlived Ctrl-C"
    assert not (state / "network.json").exists()

    code, out = await run_cli("status", "--state-dir", str(state))
    assert code == 1
    assert "no network is running" in out

    async with ilpnet_up(state) as up:
        await up.wait_for("is up")
        network = json.loads((state / "network.json").read_text())
        async with LedgerClient(network["ledgers"]["xrp"]["url"], "alice", "alice-secret") as c:
            assert await c.balance() == 12345, "ledger state did not survive a restart"
        assert await up.interrupt() == 0

    async with ilpnet_up(state, "--fresh") as up:
        await up.wait_for("is up")
        network = json.loads((state / "network.json").read_text())
        async with LedgerClient(network["ledgers"]["xrp"]["url"]) as anon:
            await anon.create_account("alice", "another-secret")
        assert await up.interrupt() == 0


async def test_a_crashed_part_is_restarted_and_reported(tmp_path: Path) -> None:
    state = tmp_path / "net"
    async with ilpnet_up(state) as up:
        await up.wait_for("is up")
        network = json.loads((state / "network.json").read_text())
        victim = next(p for p in network["parts"] if p["name"] == "ledger:eth")
        os.kill(victim["pid"], signal.SIGKILL)
        await up.wait_for("ledger:eth: exited with status")
        await up.wait_for("ledger:eth: restarted and healthy")
        async with LedgerClient(victim["url"]) as client:
            assert await client.health()
        assert await up.interrupt() == 0


async def test_a_bad_topology_is_refused_before_anything_starts(tmp_path: Path) -> None:
    topo = tmp_path / "net.toml"
    topo.write_text('[ledgers.a]\nname = "test.a"\nasset = "XRP"\nscale = 6\nfee = -1\n')
    code, out = await run_cli("up", str(topo), "--state-dir", str(tmp_path / "s"))
    assert code == 1
    assert f"{topo}:5: ledgers.a.fee" in out
    assert "Traceback" not in out
    assert not (tmp_path / "s").exists()
