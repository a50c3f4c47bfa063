"""`ilpnet up`: turn a topology into supervised parts, bring them up, keep them running.

Stages: ledgers, then connectors (each from a TOML config written into the state dir and run
with `ilpnet connector run`; healthy once its BTP peers are connected), then one test
receiver per ledger (`ilpnet receive`, a BTP child of a connector serving that ledger), then
the dashboard. Tokens are made once and kept in `secrets.json`, ports in `ports.json`, so a
restart keeps every link, pointer and book; `network.json` describes the running network
(for `ilpnet status` and the dashboard) and is removed on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

from ilpnet.clock import Clock
from ilpnet.node.supervisor import Part, Reporter, Supervisor
from ilpnet.node.topology import ConnectorSpec, Topology, TopologyError

STATE_FILE = "network.json"  # present while a network runs; `ilpnet status` reads it
PORTS_FILE = "ports.json"  # the ports used last time, reused when free
SECRETS_FILE = "secrets.json"  # tokens made once: BTP links, senders, receivers, admin APIs


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


class SecretBook:
    """Tokens generated once and kept in the state dir, so a restart keeps every link."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                self.values = {str(k): str(v) for k, v in loaded.items()}

    def get(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = secrets.token_urlsafe(18)
        return self.values[name]

    def save(self) -> None:
        self.path.write_text(json.dumps(self.values, indent=2, sort_keys=True))
        self.path.chmod(0o600)


@dataclass(frozen=True)
class SenderAccount:
    """A child account on a connector that `ilpnet send` can pay from (it has credit)."""

    account: str
    ledger: str
    asset: str
    scale: int
    token: str


@dataclass(frozen=True)
class ConnectorPlan:
    name: str
    address: str
    btp_url: str
    http_url: str
    admin_url: str
    admin_token: str
    ledgers: list[str]
    peers: list[str]
    senders: list[SenderAccount]
    config_path: Path

    @property
    def public_url(self) -> str:
        """Its public API (quotes, deposits, payment status), on the BTP listener."""
        return self.http_url

    def describe(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "btp_url": self.btp_url,
            "http_url": self.http_url,
            "public_url": self.public_url,
            "admin_url": self.admin_url,
            "admin_token": self.admin_token,
            "ledgers": self.ledgers,
            "peers": self.peers,
            "config": str(self.config_path),
            "senders": [
                {"account": s.account, "ledger": s.ledger, "asset": s.asset, "token": s.token}
                for s in self.senders
            ],
        }


@dataclass(frozen=True)
class ReceiverPlan:
    name: str
    ledger: str
    connector: str
    account: str
    address: str
    pointer: str
    health_url: str

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ledger": self.ledger,
            "connector": self.connector,
            "connector_account": self.account,  # not "account": that is a ledger account
            "address": self.address,
            "pointer": self.pointer,
            "health": self.health_url,
        }


@dataclass(frozen=True)
class LedgerReceiverPlan:
    """A receiver of on-ledger escrows: an account on one ledger that fulfils payments
    made to it (`ilpnet receive --ledger`), with invoices for `ilpnet pay`."""

    ledger: str
    account: str
    secret: str
    address: str
    invoice_url: str
    health_url: str

    def describe(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "account": self.account,
            "secret": self.secret,  # the dashboard follows the account (network.json is 0600)
            "address": self.address,
            "invoice_url": self.invoice_url,
            "health": self.health_url,
        }


@dataclass(frozen=True)
class NetworkPlan:
    """What `up` will start, and where its state lives."""

    topology: Topology
    state_dir: Path
    parts: list[Part]
    ports: dict[str, int] = field(default_factory=dict)
    connectors: dict[str, ConnectorPlan] = field(default_factory=dict)
    receivers: list[ReceiverPlan] = field(default_factory=list)
    ledger_receivers: list[LedgerReceiverPlan] = field(default_factory=list)

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
            "connectors": {name: c.describe() for name, c in self.connectors.items()},
            "receivers": [r.describe() for r in self.receivers],
            "ledger_receivers": [r.describe() for r in self.ledger_receivers],
        }

    def suggested_payment(self) -> tuple[SenderAccount, ConnectorPlan, ReceiverPlan] | None:
        """A payment worth trying: across the most connectors (and to another ledger), on a
        path where one smallest unit of the source still buys at least one unit at every
        hop (so the sender's smallest rate probe is not refused as converting to zero)."""
        best: tuple[tuple[bool, int, bool, bool], SenderAccount, ConnectorPlan, ReceiverPlan] | None
        best = None
        for conn in self.connectors.values():
            for sender in conn.senders:
                for receiver in self.receivers:
                    path = _path(self.topology, conn.name, receiver.connector)
                    if path is None:
                        continue
                    assets = [sender.ledger]
                    assets += [_link_ledger(self.topology, a, b) for a, b in pairwise(path)]
                    assets.append(receiver.ledger)
                    far_side = sender.ledger not in self.connectors[receiver.connector].ledgers
                    rank = (
                        _unit_survives(self.topology, assets),
                        len(path),
                        far_side,
                        receiver.ledger != sender.ledger,
                    )
                    if best is None or rank > best[0]:
                        best = (rank, sender, conn, receiver)
        return None if best is None else best[1:]

    def suggested_ledger_payment(
        self,
    ) -> tuple[str, ConnectorPlan, LedgerReceiverPlan] | None:
        """An on-ledger payment worth trying: from a ledger (its key) through the connector
        to escrow with, to the ledger receiver farthest away (most connectors between)."""
        best: tuple[int, str, ConnectorPlan, LedgerReceiverPlan] | None = None
        for conn in self.connectors.values():
            for source in conn.ledgers:
                for receiver in self.ledger_receivers:
                    if receiver.ledger == source:
                        continue
                    hops = min(
                        (
                            len(path)
                            for other in self.topology.serving(receiver.ledger)
                            if (path := _path(self.topology, conn.name, other)) is not None
                        ),
                        default=0,
                    )
                    if hops and (best is None or hops > best[0]):
                        best = (hops, source, conn, receiver)
        return None if best is None else best[1:]


def _link_ledger(topology: Topology, a: str, b: str) -> str:
    """A ledger key whose asset the a–b peering is in (for pricing; any with that asset)."""
    for link in topology.peer_links():
        if {link.dialer, link.listener} == {a, b}:
            return next(k for k, lg in topology.ledgers.items() if lg.asset == link.asset)
    raise KeyError((a, b))


def _unit_survives(topology: Topology, ledgers: list[str]) -> bool:
    """Does one smallest unit of the first asset stay >= 1 smallest unit at every hop (at the
    connectors' starting prices, less 1 % for spreads)?"""
    value = Fraction(1)
    for src, dst in pairwise(ledgers):
        a, b = topology.ledgers[src], topology.ledgers[dst]
        if a.asset == b.asset:
            continue
        value *= Fraction(b.liquidity) / Fraction(a.liquidity) * 10 ** (b.scale - a.scale)
        if value * Fraction(99, 100) < 1:
            return False
    return True


def write_state(plan: NetworkPlan) -> None:
    """Replace network.json at once, so a reader never sees half a file."""
    path = plan.state_dir / STATE_FILE
    partial = path.with_name(f".{STATE_FILE}.partial")
    partial.write_text(json.dumps(plan.describe(), indent=2))
    partial.chmod(0o600)  # it holds admin tokens
    os.replace(partial, path)


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / STATE_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data


def _neighbours(topology: Topology) -> dict[str, list[tuple[str, str]]]:
    """Each connector's BTP neighbours, as (their name, the account it keeps for them)."""
    found: dict[str, list[tuple[str, str]]] = {name: [] for name in topology.connectors}
    for link in topology.peer_links():
        found[link.dialer].append((link.listener, link.listener))
        found[link.listener].append((link.dialer, link.dialer))
    return found


def _next_hops(topology: Topology, start: str) -> dict[str, str]:
    """For every connector reachable from `start`: the peer account to send it through."""
    neighbours = _neighbours(topology)
    first: dict[str, str] = {}
    queue = deque((peer, account) for peer, account in neighbours[start])
    seen = {start}
    while queue:
        name, account = queue.popleft()
        if name in seen:
            continue
        seen.add(name)
        first[name] = account
        queue.extend((peer, account) for peer, _ in neighbours[name] if peer not in seen)
    return first


def _path(topology: Topology, start: str, end: str) -> list[str] | None:
    """The connectors a packet crosses from `start` to `end` (shortest), or None."""
    neighbours = _neighbours(topology)
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        if name == end:
            path: list[str] = []
            step: str | None = name
            while step is not None:
                path.append(step)
                step = came_from[step]
            return path[::-1]
        for peer, _ in neighbours[name]:
            if peer not in came_from:
                came_from[peer] = name
                queue.append(peer)
    return None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))  # a TOML basic string is a JSON string for our values


def _toml(doc: dict[str, Any], header: str) -> str:
    """A connector config as TOML: top-level keys, then one table per nested dict, then
    arrays of tables (the shapes `connector_config` builds, nothing more)."""
    lines = [header]
    for key, value in doc.items():
        if not isinstance(value, (dict, list)):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in doc.items():
        if isinstance(value, dict):
            nested = {k: v for k, v in value.items() if isinstance(v, dict)}
            flat = {k: v for k, v in value.items() if not isinstance(v, dict)}
            if flat or not nested:
                lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in flat.items()]
            for sub, table in nested.items():
                lines += ["", f"[{key}.{sub}]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    for key, value in doc.items():
        if isinstance(value, list):
            for table in value:
                lines += ["", f"[[{key}]]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _store_url(spec: ConnectorSpec, name: str, state_dir: Path, network: str) -> str:
    if spec.store == "sqlite":
        return f"sqlite:///{(state_dir / 'connectors' / f'{name}.sqlite3').resolve()}"
    if spec.store == "memory":
        return "memory://"
    if "prefix=" in spec.store:
        return spec.store
    joiner = "&" if "?" in spec.store else "?"
    return f"{spec.store}{joiner}prefix={network}-{name}"


SENDER_CREDIT = 10**15
"""How far a sender account may go into debt with its connector: test money, plenty."""
LEDGER_RECEIVER = "receiver"
"""The account name of the test receiver of on-ledger payments on every ledger."""
LEDGER_FLOAT = 1000
"""Whole units each connector takes from a ledger's faucet for its account there (the most
one faucet request gives by default)."""


def connector_config(
    topology: Topology,
    name: str,
    state_dir: Path,
    ports: dict[str, int],
    book: SecretBook,
) -> tuple[dict[str, Any], list[SenderAccount], dict[str, str]]:
    """One connector's config file (as a dict), its sender accounts, and the tokens of the
    receiver accounts it keeps (receiver name → token)."""
    net = topology.network
    spec = topology.connectors[name]
    host = net.host
    accounts: dict[str, dict[str, Any]] = {}
    senders: list[SenderAccount] = []
    for key in spec.ledgers:
        ledger = topology.ledgers[key]
        account = f"sender-{key}"
        token = book.get(f"{name}/{account}")
        accounts[account] = {
            "relation": "child",
            "asset_code": ledger.asset,
            "asset_scale": ledger.scale,
            "maximum": SENDER_CREDIT,
            "link": {"kind": "btp-server", "token": token},
        }
        senders.append(SenderAccount(account, key, ledger.asset, ledger.scale, token))
    receiver_tokens: dict[str, str] = {}
    for rname, receiver in topology.test_receivers().items():
        if topology.receiver_connector(receiver) != name:
            continue
        ledger = topology.ledgers[receiver.ledger]
        account = f"recv-{rname}"
        token = book.get(f"{name}/{account}")
        receiver_tokens[rname] = token
        accounts[account] = {
            "relation": "child",
            "asset_code": ledger.asset,
            "asset_scale": ledger.scale,
            "link": {"kind": "btp-server", "token": token},
        }
    for link in topology.peer_links():
        if name not in (link.dialer, link.listener):
            continue
        token = book.get(f"peer/{link.dialer}/{link.listener}")
        if name == link.dialer:
            other = link.listener
            btp_link = {
                "kind": "btp-client",
                "url": f"ws://{host}:{ports[f'connector:{other}']}",
                "token": token,
                "username": name,
            }
        else:
            other = link.dialer
            btp_link = {"kind": "btp-server", "token": token, "username": other}
        btp_link["public_url"] = f"http://{host}:{ports[f'connector:{other}']}"
        accounts[other] = {
            "relation": "peer",
            "asset_code": link.asset,
            "asset_scale": link.scale,
            "minimum": -link.maximum,
            "maximum": link.maximum,
            "link": btp_link,
        }
    for key in spec.ledgers:
        ledger = topology.ledgers[key]
        accounts[f"ledger-{key}"] = {
            "relation": "peer",
            "asset_code": ledger.asset,
            "asset_scale": ledger.scale,
            "link": {
                "kind": "ledger-escrow",
                "url": f"http://{host}:{ports[f'ledger:{key}']}",
                "account": name,
                "secret": book.get(f"{name}/ledger-{key}"),
                "fund": LEDGER_FLOAT * 10**ledger.scale,
            },
        }
    liquidity: dict[str, str] = {}
    for settings in accounts.values():
        code = str(settings["asset_code"])
        held = next((lg.liquidity for lg in topology.ledgers.values() if lg.asset == code), "1000")
        liquidity[code] = held
    hops = _next_hops(topology, name)
    routes = [
        {"prefix": f"{net.ilp_prefix}.{other}", "account": account}
        for other, account in hops.items()
    ]
    for key, ledger in topology.ledgers.items():  # ledgers served further on
        if key in spec.ledgers:
            continue  # routed to our own account there
        nearest = next((c for c in hops if key in topology.connectors[c].ledgers), None)
        if nearest is not None and all(r["prefix"] != ledger.name for r in routes):
            routes.append({"prefix": ledger.name, "account": hops[nearest]})
    doc: dict[str, Any] = {
        "address": f"{net.ilp_prefix}.{name}",
        "store": _store_url(spec, name, state_dir, net.name),
        "escrow_state": str((state_dir / "connectors" / f"{name}.escrow").resolve()),
        "spread": spec.spread,
        "btp": {"host": host, "port": ports[f"connector:{name}"]},
        "admin": {
            "host": host,
            "port": ports[f"connector:{name}:admin"],
            "token": book.get(f"{name}/admin"),
        },
        "liquidity": liquidity,
        "accounts": accounts,
        "routes": routes,
    }
    return doc, senders, receiver_tokens


def plan_network(topology: Topology, state_dir: Path, *, fresh: bool = False) -> NetworkPlan:
    """Choose ports, tokens and command lines for every part of the topology, and write each
    connector's config into the state dir."""
    if fresh and state_dir.exists():
        shutil.rmtree(state_dir)
    previous: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((state_dir / PORTS_FILE).read_text())
        if isinstance(loaded, dict):
            previous = {str(k): int(v) for k, v in loaded.items()}
    net = topology.network
    host = net.host
    picker = PortPicker(host, net.base_port, previous)
    ports: dict[str, int] = {}
    for key, ledger in topology.ledgers.items():
        ports[f"ledger:{key}"] = picker.pick(f"ledger:{key}", ledger.port)
    for name, conn in topology.connectors.items():
        ports[f"connector:{name}"] = picker.pick(f"connector:{name}", conn.port)
        ports[f"connector:{name}:admin"] = picker.pick(f"connector:{name}:admin", conn.admin_port)
    receivers = topology.test_receivers()
    for rname, receiver in receivers.items():
        ports[f"receiver:{rname}"] = picker.pick(f"receiver:{rname}", receiver.port)
    for key in topology.ledgers:
        ports[f"ledger-receiver:{key}"] = picker.pick(f"ledger-receiver:{key}", None)
    ports["dashboard"] = picker.pick("dashboard", None)

    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "connectors").mkdir(exist_ok=True)
    book = SecretBook(state_dir / SECRETS_FILE)
    python = sys.executable
    cli = [python, "-m", "ilpnet.cli.main"]
    parts: list[Part] = []
    for key, spec in topology.ledgers.items():
        name = f"ledger:{key}"
        port = ports[name]
        parts.append(
            Part(
                name=name,
                kind="ledger",
                argv=[
                    *cli,
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
    connectors: dict[str, ConnectorPlan] = {}
    receiver_tokens: dict[str, str] = {}
    neighbours = _neighbours(topology)
    for name in topology.connectors:
        doc, senders, tokens = connector_config(topology, name, state_dir, ports, book)
        receiver_tokens.update(tokens)
        path = state_dir / "connectors" / f"{name}.toml"
        path.write_text(
            _toml(doc, f"# Written by `ilpnet up` for connector {name}; rewritten each start.")
        )
        path.chmod(0o600)
        port = ports[f"connector:{name}"]
        admin = doc["admin"]
        connectors[name] = ConnectorPlan(
            name=name,
            address=str(doc["address"]),
            btp_url=f"ws://{host}:{port}",
            http_url=f"http://{host}:{port}",
            admin_url=f"http://{host}:{admin['port']}",
            admin_token=str(admin["token"]),
            ledgers=list(topology.connectors[name].ledgers),
            peers=[peer for peer, _ in neighbours[name]],
            senders=senders,
            config_path=path,
        )
        parts.append(
            Part(
                name=f"connector:{name}",
                kind="connector",
                argv=[*cli, "connector", "run", "--config", str(path), "--log-level", "warning"],
                url=f"ws://{host}:{port}",
                health_url=f"http://{host}:{port}/health",
                log_path=state_dir / "logs" / f"connector-{name}.log",
                stage=1,
                ready_links=tuple(account for _, account in neighbours[name]),
            )
        )
    plans: list[ReceiverPlan] = []
    for rname, receiver in receivers.items():
        port = ports[f"receiver:{rname}"]
        parent = connectors[topology.receiver_connector(receiver)]
        account = f"recv-{rname}"
        plans.append(
            ReceiverPlan(
                name=rname,
                ledger=receiver.ledger,
                connector=parent.name,
                account=account,
                address=f"{parent.address}.{account}",
                pointer=f"${host}:{port}",
                health_url=f"http://{host}:{port}/health",
            )
        )
        parts.append(
            Part(
                name=f"receiver:{rname}",
                kind="receiver",
                argv=[
                    *cli,
                    "receive",
                    "--connector",
                    parent.btp_url,
                    "--token",
                    receiver_tokens[rname],
                    "--host",
                    host,
                    "--port",
                    str(port),
                ],
                url=f"${host}:{port}",
                health_url=f"http://{host}:{port}/health",
                log_path=state_dir / "logs" / f"receiver-{rname}.log",
                stage=2,
            )
        )
    ledger_receivers: list[LedgerReceiverPlan] = []
    for key, spec in topology.ledgers.items():
        port = ports[f"ledger-receiver:{key}"]
        name = f"ledger-receiver:{key}"
        ledger_receivers.append(
            LedgerReceiverPlan(
                ledger=key,
                account=LEDGER_RECEIVER,
                secret=book.get(f"{name}/secret"),
                address=f"{spec.name}.{LEDGER_RECEIVER}",
                invoice_url=f"http://{host}:{port}/invoice",
                health_url=f"http://{host}:{port}/health",
            )
        )
        parts.append(
            Part(
                name=name,
                kind="ledger-receiver",
                argv=[
                    *cli,
                    "receive",
                    "--ledger",
                    f"http://{host}:{ports[f'ledger:{key}']}",
                    "--account",
                    LEDGER_RECEIVER,
                    "--secret",
                    book.get(f"{name}/secret"),
                    "--port",
                    str(port),
                ],
                url=f"http://{host}:{port}/invoice",
                health_url=f"http://{host}:{port}/health",
                log_path=state_dir / "logs" / f"ledger-receiver-{key}.log",
                stage=1,
            )
        )
    book.save()
    dash_port = ports["dashboard"]
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
            stage=3,
        )
    )
    return NetworkPlan(topology, state_dir, parts, ports, connectors, plans, ledger_receivers)


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
    state_path = plan.state_dir / STATE_FILE

    def report_and_record(part: Part, message: str) -> None:
        with contextlib.suppress(OSError):  # a restarted part has a new pid: record it first
            write_state(plan)
        report(part, message)

    supervisor = Supervisor(plan.parts, clock, report_and_record)
    try:
        write_state(plan)
        await supervisor.start()
        write_state(plan)
        (plan.state_dir / PORTS_FILE).write_text(json.dumps(plan.ports, indent=2))
        on_ready(plan)
        await stop.wait()
    finally:
        await supervisor.stop()
        with contextlib.suppress(OSError):
            state_path.unlink()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
