"""`ilpnet up`: turn a topology into supervised parts, bring them up, keep them running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ilpnet.clock import Clock
from ilpnet.node.supervisor import Part, Reporter, Supervisor
from ilpnet.node.topology import Topology, TopologyError

STATE_FILE = "network.json"  # present while a network runs; `ilpnet status` reads it
PORTS_FILE = "ports.json"  # the ports used last time, reused when free


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class PortPicker:
    """Hands out ports: the one asked for, else the one used last time, else the next free."""

    def __init__(self, host: str, base: int, previous: dict[str, int]) -> None:
        self.host = host
        self.next = base
        self.previous = previous
        self.taken: set[int] = set()

    def pick(self, part: str, wanted: int | None) -> int:
        if wanted is not None:
            if not port_is_free(self.host, wanted):
                raise TopologyError(part, f"port {wanted} is already in use on {self.host}")
            self.taken.add(wanted)
            return wanted
        last = self.previous.get(part)
        if last and last not in self.taken and port_is_free(self.host, last):
            self.taken.add(last)
            return last
        while self.next in self.taken or not port_is_free(self.host, self.next):
            self.next += 1
            if self.next > 65535:
                raise TopologyError(part, "no free port left")
        port = self.next
        self.taken.add(port)
        self.next += 1
        return port


@dataclass(frozen=True)
class NetworkPlan:
    """What `up` will start, and where its state lives."""

    topology: Topology
    state_dir: Path
    parts: list[Part]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.topology.network.name,
            "state_dir": str(self.state_dir),
            "parts": [
                {"name": p.name, "kind": p.kind, "url": p.url, "health": p.health_url, "pid": p.pid}
                for p in self.parts
            ],
            "ledgers": {
                key: {
                    "name": spec.name,
                    "asset": spec.asset,
                    "scale": spec.scale,
                    "url": next(p.url for p in self.parts if p.name == f"ledger:{key}"),
                }
                for key, spec in self.topology.ledgers.items()
            },
        }


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def plan_network(topology: Topology, state_dir: Path, *, fresh: bool = False) -> NetworkPlan:
    """Choose ports and command lines for every part of the topology."""
    if topology.connectors:
        raise TopologyError("topology", "connectors: this version of ilpnet up starts ledgers only")
    if fresh and state_dir.exists():
        shutil.rmtree(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    previous: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((state_dir / PORTS_FILE).read_text())
        if isinstance(loaded, dict):
            previous = {str(k): int(v) for k, v in loaded.items()}
    host = topology.network.host
    ports = PortPicker(host, topology.network.base_port, previous)
    python = sys.executable
    parts: list[Part] = []
    for key, spec in topology.ledgers.items():
        name = f"ledger:{key}"
        port = ports.pick(name, spec.port)
        parts.append(
            Part(
                name=name,
                kind="ledger",
                argv=[
                    python,
                    "-m",
                    "ilpnet.cli.main",
                    "ledger",
                    "serve",
                    "--name",
                    spec.name,
                    "--asset",
                    spec.asset,
                    "--scale",
                    str(spec.scale),
                    "--fee",
                    str(spec.fee),
                    "--close-interval",
                    str(spec.close_interval_ms),
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--db",
                    str(state_dir / "ledgers" / f"{key}.sqlite3"),
                ],
                url=f"http://{host}:{port}",
                health_url=f"http://{host}:{port}/health",
                log_path=state_dir / "logs" / f"ledger-{key}.log",
            )
        )
    dash_port = ports.pick("dashboard", None)
    parts.append(
        Part(
            name="dashboard",
            kind="dashboard",
            argv=[
                python,
                "-m",
                "ilpnet.web.serve",
                "--network-file",
                str(state_dir / STATE_FILE),
                "--host",
                host,
                "--port",
                str(dash_port),
            ],
            url=f"http://{host}:{dash_port}",
            health_url=f"http://{host}:{dash_port}/health",
            log_path=state_dir / "logs" / "dashboard.log",
            stage=2,
        )
    )
    return NetworkPlan(topology, state_dir, parts)


async def run_network(
    plan: NetworkPlan,
    clock: Clock,
    report: Reporter,
    on_ready: Callable[[NetworkPlan], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Start every part, call `on_ready`, and run until `stop` is set or SIGINT/SIGTERM."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(plan.parts, clock, report)
    state_path = plan.state_dir / STATE_FILE
    try:
        state_path.write_text(json.dumps(plan.describe(), indent=2))
        await supervisor.start()
        state_path.write_text(json.dumps(plan.describe(), indent=2))
        ports = {p.name: int(p.url.rsplit(":", 1)[1]) for p in plan.parts}
        (plan.state_dir / PORTS_FILE).write_text(json.dumps(ports, indent=2))
        on_ready(plan)
        await stop.wait()
    finally:
        await supervisor.stop()
        with contextlib.suppress(OSError):
            state_path.unlink()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
