"""Connector processes for tests: write their TOML, start `ilpnet connector run` on free
ports, wait on /health (bounded), talk to their admin API, kill and restart them.

`line_configs` describes three connectors in a line over BTP, across three assets:

    sender ─USD/2─ A (test.a) ─EUR/6─ B (test.b) ─EUR/6─ C (test.c) ─JPY/0─ receiver

A prices USD→EUR from its holdings (USD 1000, EUR 900, spread 0.002) and dials B; B passes
EUR on at 1:1 (spread 0) and dials C; C pays 160 JPY per EUR (fixed rate). The sender and
the receiver are test-side `BtpClientLink` children of A and C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ilpnet.crypto.condition import condition_of
from ilpnet.links.btp import BtpClientLink
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.redis_server import free_port

ADMIN_TOKEN = "admin-token-for-tests"
START_DEADLINE_S = 20.0
"""Bound on a process becoming healthy (the machine may be busy)."""

Json = Any


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_toml(path: Path, config: dict[str, Any]) -> None:
    """Top-level scalars, then one table per dict value, `[[routes]]` for the route list."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in config.items():
        if key == "routes":
            continue
        if isinstance(value, dict) and key != "accounts":
            tables.append(f"\n[{key}]")
            tables.extend(f'"{k}" = {toml_value(v)}' for k, v in value.items())
        elif key == "accounts":
            for account_id, settings in value.items():
                tables.append(f"\n[accounts.{account_id}]")
                tables.extend(f"{k} = {toml_value(v)}" for k, v in settings.items())
        else:
            lines.append(f"{key} = {toml_value(value)}")
    for route in config.get("routes", []):
        tables.append("\n[[routes]]")
        tables.extend(f"{k} = {toml_value(v)}" for k, v in route.items())
    path.write_text("\n".join(lines + tables) + "\n")


@dataclass
class ConnectorProcess:
    """One `ilpnet connector run` subprocess with its config and log file."""

    name: str
    config: dict[str, Any]
    directory: Path
    btp_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0

    def __post_init__(self) -> None:
        self.config.setdefault("btp", {"host": "127.0.0.1", "port": self.btp_port})
        self.config.setdefault(
            "admin", {"host": "127.0.0.1", "port": self.admin_port, "token": ADMIN_TOKEN}
        )

    @property
    def config_path(self) -> Path:
        return self.directory / f"{self.name}.toml"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def btp_url(self) -> str:
        return f"ws://127.0.0.1:{self.btp_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def start(self, *args: str) -> None:
        """Start `ilpnet connector run` on the config (with `args` added to its command)."""
        write_toml(self.config_path, self.config)
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ilpnet.cli.main",
                "connector",
                "run",
                "--config",
                str(self.config_path),
                *args,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    async def health(self, http: aiohttp.ClientSession) -> Json | None:
        try:
            async with http.get(f"http://127.0.0.1:{self.btp_port}/health") as response:
                if response.status != 200:
                    return None
                return await response.json()
        except aiohttp.ClientError:
            return None

    async def wait_healthy(self, links: tuple[str, ...] = ()) -> Json:
        """Until /health answers and every account in `links` is connected."""
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_DEADLINE_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if self.process.returncode is not None:
                    raise RuntimeError(
                        f"connector {self.name} exited with {self.process.returncode}:\n"
                        f"{self.log_tail()}"
                    )
                state = await self.health(http)
                if state is not None and all(state["links"].get(a) for a in links):
                    return state
                if loop.time() > deadline:
                    raise TimeoutError(
                        f"connector {self.name} not healthy in {START_DEADLINE_S}s "
                        f"(last /health: {state}):\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.05)

    async def admin(self, path: str) -> Json:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"{self.admin_url}{path}", headers=headers) as response,
        ):
            response.raise_for_status()
            return await response.json()

    async def balances(self) -> dict[str, int]:
        return {a["id"]: int(a["balance"]) for a in await self.admin("/accounts")}

    async def books(self) -> dict[str, tuple[int, int, int]]:
        """(balance, pending_in, pending_out) of every account."""
        return {
            a["id"]: (int(a["balance"]), int(a["pending_in"]), int(a["pending_out"]))
            for a in await self.admin("/accounts")
        }

    async def in_flight(self) -> int:
        """Packets in flight, with the holds of those not yet (or never) recorded."""
        status = await self.admin("/status")
        return int(status["in_flight"]) + int(status["held"])

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait_exit(self) -> int:
        """The exit status (-9 after `kill`), waiting at most 10 s."""
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL if it does not exit in time."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def line_configs(
    directory: Path, stores: dict[str, str], overrides: dict[str, dict[str, Any]] | None = None
) -> tuple[ConnectorProcess, ConnectorProcess, ConnectorProcess]:
    """The three connectors of the line; `overrides["b.a"] = {...}` changes account `a` of B,
    `overrides["b"] = {...}` top-level keys of B."""
    more = overrides or {}
    a = ConnectorProcess("a", {}, directory)
    b = ConnectorProcess("b", {}, directory)
    c = ConnectorProcess("c", {}, directory)

    def accounts(node: str, found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {k: {**v, **more.get(f"{node}.{k}", {})} for k, v in found.items()}

    a.config.update(
        {
            "address": "test.a",
            "store": stores["a"],
            "spread": "0.002",
            "liquidity": {"USD": "1000", "EUR": "900"},
            "accounts": accounts(
                "a",
                {
                    "sender": {
                        "relation": "child",
                        "asset_code": "USD",
                        "asset_scale": 2,
                        "maximum": 50_000,
                        "link": {"kind": "btp-server", "token": "sender-secret"},
                    },
                    "b": {
                        "relation": "peer",
                        "asset_code": "EUR",
                        "asset_scale": 6,
                        "link": {"kind": "btp-client", "url": b.btp_url, "token": "a-to-b"},
                    },
                },
            ),
            "routes": [{"prefix": "test", "account": "b"}],
            **more.get("a", {}),
        }
    )
    b.config.update(
        {
            "address": "test.b",
            "store": stores["b"],
            "accounts": accounts(
                "b",
                {
                    "a": {
                        "relation": "peer",
                        "asset_code": "EUR",
                        "asset_scale": 6,
                        "max_packet_amount": 30_000_000,
                        "link": {"kind": "btp-server", "token": "a-to-b"},
                    },
                    "c": {
                        "relation": "peer",
                        "asset_code": "EUR",
                        "asset_scale": 6,
                        "link": {"kind": "btp-client", "url": c.btp_url, "token": "b-to-c"},
                    },
                },
            ),
            "routes": [{"prefix": "test.a", "account": "a"}, {"prefix": "test.c", "account": "c"}],
            **more.get("b", {}),
        }
    )
    c.config.update(
        {
            "address": "test.c",
            "store": stores["c"],
            "fixed_rates": {"EUR/JPY": "160"},
            "accounts": accounts(
                "c",
                {
                    "b": {
                        "relation": "peer",
                        "asset_code": "EUR",
                        "asset_scale": 6,
                        "maximum": 25_000_000,
                        "link": {"kind": "btp-server", "token": "b-to-c"},
                    },
                    "receiver": {
                        "relation": "child",
                        "asset_code": "JPY",
                        "asset_scale": 0,
                        "link": {"kind": "btp-server", "token": "receiver-secret"},
                    },
                },
            ),
            "routes": [{"prefix": "test", "account": "b"}],
            **more.get("c", {}),
        }
    )
    return a, b, c


@dataclass
class Receiver:
    """The receiving child of C: fulfils each Prepare whose condition it knows, at once,
    unless `answer` is set (then it decides)."""

    fulfillments: dict[bytes, bytes] = field(default_factory=dict)
    got: list[Prepare] = field(default_factory=list)
    fulfilled: list[Prepare] = field(default_factory=list)
    answer: Callable[[Prepare], Awaitable[Fulfill | Reject]] | None = None

    def expect(self, fulfillment: bytes) -> bytes:
        """Remember a fulfillment; returns its condition for the sender to use."""
        condition = condition_of(fulfillment)
        self.fulfillments[condition] = fulfillment
        return condition

    async def handle(self, prepare: Prepare) -> Fulfill | Reject:
        self.got.append(prepare)
        if self.answer is not None:
            return await self.answer(prepare)
        return self.fulfil(prepare)

    def fulfil(self, prepare: Prepare) -> Fulfill | Reject:
        fulfillment = self.fulfillments.get(prepare.execution_condition)
        if fulfillment is None:
            return Reject("F06", "test.c.receiver", "unexpected payment")
        self.fulfilled.append(prepare)
        return Fulfill(fulfillment, b"thanks")


@dataclass
class Line:
    a: ConnectorProcess
    b: ConnectorProcess
    c: ConnectorProcess
    sender: BtpClientLink
    receiver_link: BtpClientLink
    receiver: Receiver

    @property
    def nodes(self) -> tuple[ConnectorProcess, ConnectorProcess, ConnectorProcess]:
        return self.a, self.b, self.c


async def start_line(a: ConnectorProcess, b: ConnectorProcess, c: ConnectorProcess) -> None:
    await asyncio.gather(a.start(), b.start(), c.start())
    await asyncio.gather(
        a.wait_healthy(links=("b",)), b.wait_healthy(links=("a", "c")), c.wait_healthy(("b",))
    )


@contextlib.asynccontextmanager
async def running_line(
    directory: Path, stores: dict[str, str], overrides: dict[str, dict[str, Any]] | None = None
) -> AsyncIterator[Line]:
    """The three processes, connected, with the sender and receiver children attached."""
    a, b, c = line_configs(directory, stores, overrides)
    sender = BtpClientLink(a.btp_url, "a", token="sender-secret", username="sender")
    receiver_link = BtpClientLink(c.btp_url, "c", token="receiver-secret", username="receiver")
    receiver = Receiver()
    receiver_link.set_handler(receiver.handle)
    try:
        await start_line(a, b, c)
        await sender.start()
        await receiver_link.start()
        await c.wait_healthy(links=("b", "receiver"))
        yield Line(a, b, c, sender, receiver_link, receiver)
    finally:
        await sender.close()
        await receiver_link.close()
        await asyncio.gather(a.stop(), b.stop(), c.stop())
