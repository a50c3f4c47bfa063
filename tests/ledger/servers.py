"""Real ledger servers for tests: a subprocess on a free loopback port with its own db.

`running_ledger(tmp_path)` starts `python -m ilpnet.cli.ledger serve ...`, waits until
`GET /health` answers (bounded deadline) and stops it afterwards; `LedgerProcess.kill()`
is a SIGKILL and `restart()` starts it again on the same db and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.redis_server import free_port

START_DEADLINE = 20.0


@dataclass
class LedgerProcess:
    """A ledger server running as a child process."""

    args: list[str]
    port: int
    db: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL if it does not exit within 10 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        """Start again with the same arguments (same db and port)."""
        self.stop()
        self.process = _spawn(self.args, self.log_path)
        wait_healthy(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(server: LedgerProcess, deadline: float = START_DEADLINE) -> None:
    """Poll `GET /health` until it answers 200; raise with the server's log if it never does."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise RuntimeError(f"ledger exited at start ({code}):\n{server.log()}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{server.url}/health", timeout=1) as resp,  # noqa: S310
        ):
            if resp.status == 200:
                return
        time.sleep(0.02)
    server.kill()
    raise RuntimeError(f"ledger not healthy within {deadline} s:\n{server.log()}")


def start_ledger(
    directory: Path,
    *,
    name: str = "test.xrp",
    asset: str = "XRP",
    scale: int = 6,
    fee: int = 0,
    close_interval_ms: int = 0,
    port: int = 0,
    db: Path | None = None,
    faucet_max: int | None = None,
    faucet_per_account: int = 1_000_000,
    faucet_per_client: int = 1_000_000,
) -> LedgerProcess:
    """Start a ledger subprocess (generous faucet limits unless given) and wait until healthy."""
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    db = db or directory / f"{name}.sqlite3"
    args = [
        sys.executable,
        "-m",
        "ilpnet.cli.ledger",
        "serve",
        "--name",
        name,
        "--asset",
        asset,
        "--scale",
        str(scale),
        "--fee",
        str(fee),
        "--close-interval",
        str(close_interval_ms),
        "--port",
        str(port),
        "--db",
        str(db),
        "--faucet-per-account",
        str(faucet_per_account),
        "--faucet-per-client",
        str(faucet_per_client),
    ]
    if faucet_max is not None:
        args += ["--faucet-max", str(faucet_max)]
    log_path = directory / f"{name}-{port}.log"
    server = LedgerProcess(args, port, db, log_path, _spawn(args, log_path))
    wait_healthy(server)
    return server


async def start_ledger_async(directory: Path, **kwargs: object) -> LedgerProcess:
    """`start_ledger` without blocking the running event loop."""
    return await asyncio.to_thread(lambda: start_ledger(directory, **kwargs))  # type: ignore[arg-type]


@contextlib.contextmanager
def running_ledger(directory: Path, **kwargs: object) -> Iterator[LedgerProcess]:
    """A ledger subprocess for the duration of the block."""
    server = start_ledger(directory, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
