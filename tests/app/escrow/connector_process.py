"""An escrow connector as a real child process (`python -m ilpnet.node.escrow_connector`),
for tests that SIGKILL it and start it again on the same state directory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

START_DEADLINE = 30.0


@dataclass
class ConnectorProcess:
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    url: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    async def exited(self, within: float) -> int:
        """The exit code once the process ended by itself (bounded wait)."""
        return await asyncio.wait_for(asyncio.to_thread(self.process.wait), within)


def _wait_ready(proc: ConnectorProcess) -> None:
    end = time.monotonic() + START_DEADLINE
    while time.monotonic() < end:
        for line in proc.log().splitlines():
            if line.startswith("ready "):
                proc.url = line.split(" ", 1)[1].strip()
                return
        if proc.process.poll() is not None:
            raise RuntimeError(f"connector exited at start:\n{proc.log()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"connector not ready within {START_DEADLINE} s:\n{proc.log()}")


def start_connector(
    state: Path,
    account: str,
    secret: str,
    ledgers: dict[str, str],
    *,
    crash_at: str | None = None,
    window_ms: int = 4000,
    margin_ms: int = 500,
    extra: tuple[str, ...] = (),
) -> ConnectorProcess:
    """Start the connector process and wait (bounded) for its `ready` line."""
    state.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "ilpnet.node.escrow_connector",
        "--address",
        "test.conn",
        "--account",
        account,
        "--secret",
        secret,
        "--state",
        str(state),
        "--window-ms",
        str(window_ms),
        "--margin-ms",
        str(margin_ms),
    ]
    for ident, url in ledgers.items():
        args += ["--ledger", f"{ident}={url}"]
    if crash_at:
        args += ["--crash-at", crash_at]
    args += extra
    log_path = state / f"connector-{int(time.monotonic() * 1000)}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    proc = ConnectorProcess(args, log_path, process)
    _wait_ready(proc)
    return proc


async def start_connector_async(*args: object, **kwargs: object) -> ConnectorProcess:
    return await asyncio.to_thread(lambda: start_connector(*args, **kwargs))  # type: ignore[arg-type]
