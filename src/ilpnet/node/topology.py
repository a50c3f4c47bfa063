"""A network topology: which ledgers, connectors and test receivers `ilpnet up` starts.

    [ledgers.xrp]                       # a test ledger (its own asset, scale, fee, speed)
    name = "test.xrp"
    asset = "XRP"
    scale = 6
    liquidity = "1000000"               # whole units each connector holds (prices it)

    [connectors.alpha]                  # address test.alpha; a child account per ledger
    ledgers = ["xrp", "eth"]
    store = "sqlite"                    # under the state dir, or "redis://host:port/0"
    [[connectors.alpha.peers]]          # alpha dials beta over BTP
    connector = "beta"                  # asset/scale: a ledger both serve, if not given

    [receivers.xrp]                     # optional: by default one per served ledger
    ledger = "xrp"

Mistakes (unknown ledger, port clash, a connector with no links, unknown peer) are
refused before anything starts, with the line of the file they are on.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,30}$")]


class TopologyError(Exception):
    """A topology that cannot be started; `line` is 1-based when known."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")
        self.line = line


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Strict):
    name: str = "ilpnet"
    host: str = "127.0.0.1"
    base_port: int = Field(default=7700, ge=1024, le=65000)
    ilp_prefix: str = Field(default="test", pattern=r"^(test|test1|test2|test3|private|example)$")


class LedgerSpec(_Strict):
    """One test ledger: its own asset, scale, fee and speed."""

    name: str = Field(pattern=r"^[a-z0-9.-]{1,40}$")
    asset: str = Field(pattern=r"^[A-Z0-9]{1,12}$")
    scale: int = Field(ge=0, le=18)
    fee: int = Field(default=0, ge=0)
    close_interval_ms: int = Field(default=0, ge=0, le=60_000)
    port: int | None = Field(default=None, ge=1024, le=65535)
    liquidity: str = Field(default="1000", pattern=r"^[0-9]+(\.[0-9]+)?$")
    """Whole units of this asset each connector holds; the ratios set the exchange rates."""


class PeerSpec(_Strict):
    """A BTP peering with another connector of the topology (this side dials)."""

    connector: Name
    asset: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,12}$")
    scale: int | None = Field(default=None, ge=0, le=18)
    maximum: int = Field(default=10**15, ge=0)

    @model_validator(mode="after")
    def _both_or_neither(self) -> PeerSpec:
        if (self.asset is None) != (self.scale is None):
            raise ValueError("give both asset and scale, or neither (a shared ledger's)")
        return self


class ConnectorSpec(_Strict):
    """One connector: the ledgers it serves (a child account for each ledger's asset) and
    the connectors it peers with over BTP."""

    ledgers: list[Name] = Field(default_factory=list)
    peers: list[PeerSpec] = Field(default_factory=list)
    store: str = Field(default="sqlite", pattern=r"^(sqlite|memory|redis://\S+)$")
    port: int | None = Field(default=None, ge=1024, le=65535)
    admin_port: int | None = Field(default=None, ge=1024, le=65535)
    spread: str = Field(default="0", pattern=r"^0(\.[0-9]+)?$")

    @model_validator(mode="after")
    def _has_links(self) -> ConnectorSpec:
        if not self.ledgers and not self.peers:
            raise ValueError("a connector needs at least one ledger or peer")
        return self


class PeerLink(NamedTuple):
    """One BTP peering: `dialer` connects to `listener`; both keep an account in `asset`."""

    dialer: str
    listener: str
    asset: str
    scale: int
    maximum: int


class ReceiverSpec(_Strict):
    """A test receiver: a payment pointer on `ledger`'s asset, a child of `connector` (by
    default the first connector serving that ledger)."""

    ledger: Name
    connector: Name | None = None
    port: int | None = Field(default=None, ge=1024, le=65535)


class Topology(_Strict):
    network: NetworkSettings = NetworkSettings()
    ledgers: dict[Name, LedgerSpec] = Field(default_factory=dict)
    connectors: dict[Name, ConnectorSpec] = Field(default_factory=dict)
    receivers: dict[Name, ReceiverSpec] | None = None
    """None: one test receiver per ledger that a connector serves."""

    @model_validator(mode="after")
    def _references(self) -> Topology:
        if not self.ledgers:
            raise ValueError("a network needs at least one ledger")
        names = [spec.name for spec in self.ledgers.values()]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"ledger name used twice: {sorted(dup)[0]}")
        ports: dict[int, str] = {}
        wanted: list[tuple[str, str, str, int | None]] = []
        wanted += [("ledgers", k, "port", p.port) for k, p in self.ledgers.items()]
        for key, conn in self.connectors.items():
            wanted.append(("connectors", key, "port", conn.port))
            wanted.append(("connectors", key, "admin_port", conn.admin_port))
        wanted += [("receivers", k, "port", r.port) for k, r in (self.receivers or {}).items()]
        for kind, key, field_name, port in wanted:
            if port is None:
                continue
            if port in ports:
                raise _Located(
                    (kind, key, field_name), f"port {port} is also used by {ports[port]}"
                )
            ports[port] = f"{kind}.{key}.{field_name}"
        for key, conn in self.connectors.items():
            for i, ledger in enumerate(conn.ledgers):
                if ledger not in self.ledgers:
                    raise _Located(("connectors", key, "ledgers", i), f"unknown ledger {ledger!r}")
            for i, peer in enumerate(conn.peers):
                if peer.connector not in self.connectors:
                    raise _Located(
                        ("connectors", key, "peers", i, "connector"),
                        f"unknown connector {peer.connector!r}",
                    )
                if peer.connector == key:
                    raise _Located(
                        ("connectors", key, "peers", i, "connector"),
                        "a connector cannot peer itself",
                    )
                if peer.asset is None and not self.shared_ledgers(key, peer.connector):
                    raise _Located(
                        ("connectors", key, "peers", i, "connector"),
                        f"{key} and {peer.connector} serve no ledger in common: "
                        "give the link's asset and scale",
                    )
        for key, conn in self.connectors.items():
            for i, peer in enumerate(conn.peers):
                other = self.connectors[peer.connector]
                if any(p.connector == key for p in other.peers) and peer.connector < key:
                    raise _Located(
                        ("connectors", key, "peers", i, "connector"),
                        f"{peer.connector} already peers with {key} (one side is enough)",
                    )
        for key, receiver in (self.receivers or {}).items():
            if receiver.ledger not in self.ledgers:
                raise _Located(("receivers", key, "ledger"), f"unknown ledger {receiver.ledger!r}")
            if receiver.connector is None:
                if not self.serving(receiver.ledger):
                    raise _Located(
                        ("receivers", key, "ledger"),
                        f"no connector serves ledger {receiver.ledger!r}",
                    )
            elif receiver.connector not in self.connectors:
                raise _Located(
                    ("receivers", key, "connector"), f"unknown connector {receiver.connector!r}"
                )
            elif receiver.ledger not in self.connectors[receiver.connector].ledgers:
                raise _Located(
                    ("receivers", key, "connector"),
                    f"{receiver.connector} does not serve ledger {receiver.ledger!r}",
                )
        return self

    def shared_ledgers(self, a: str, b: str) -> list[str]:
        """Ledgers both connectors serve, in `a`'s order."""
        theirs = set(self.connectors[b].ledgers)
        return [key for key in self.connectors[a].ledgers if key in theirs]

    def serving(self, ledger: str) -> list[str]:
        """Connectors that serve `ledger`, in file order."""
        return [name for name, conn in self.connectors.items() if ledger in conn.ledgers]

    def test_receivers(self) -> dict[str, ReceiverSpec]:
        """The receivers to start: the listed ones, or one per ledger a connector serves."""
        if self.receivers is not None:
            return dict(self.receivers)
        return {key: ReceiverSpec(ledger=key) for key in self.ledgers if self.serving(key)}

    def receiver_connector(self, receiver: ReceiverSpec) -> str:
        return receiver.connector or self.serving(receiver.ledger)[0]

    def peer_links(self) -> list[PeerLink]:
        """Every BTP peering once, with the asset its accounts are in."""
        links = []
        for key, conn in self.connectors.items():
            for peer in conn.peers:
                if peer.asset is not None and peer.scale is not None:
                    asset, scale = peer.asset, peer.scale
                else:
                    shared = self.ledgers[self.shared_ledgers(key, peer.connector)[0]]
                    asset, scale = shared.asset, shared.scale
                links.append(PeerLink(key, peer.connector, asset, scale, peer.maximum))
        return links


class _Located(ValueError):
    """A validation failure that knows which key it is about."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def locate_line(text: str, loc: tuple[str | int, ...]) -> int | None:
    """Best line for a key path: the key inside its table, else the table header."""
    lines = text.splitlines()
    keys = [str(k) for k in loc if isinstance(k, str)]
    best: int | None = None
    # Find the deepest table header that matches a prefix of the path.
    for depth in range(len(keys), 0, -1):
        header = re.compile(
            r"^\s*\[+\s*" + r"\s*\.\s*".join(re.escape(k) for k in keys[:depth]) + r"\s*\]+"
        )
        for i, line in enumerate(lines):
            if header.match(line):
                best = i + 1
                rest = keys[depth:]
                if rest:
                    key_re = re.compile(r"^\s*" + re.escape(rest[0]) + r"\s*=")
                    for j in range(i + 1, len(lines)):
                        if lines[j].lstrip().startswith("["):
                            break
                        if key_re.match(lines[j]):
                            return j + 1
                return best
    if keys:
        key_re = re.compile(r"^\s*" + re.escape(keys[0]) + r"\s*=")
        for i, line in enumerate(lines):
            if key_re.match(line):
                return i + 1
    return best


def _describe(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(k) for k in loc)


def parse_topology(text: str, source: str = "<topology>") -> Topology:
    """Parse and check a topology; every mistake raises `TopologyError` with its line."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise TopologyError(
            source, f"not valid TOML: {exc}", int(match[1]) if match else None
        ) from exc
    try:
        return Topology.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx_error = err.get("ctx", {}).get("error")
        if isinstance(ctx_error, _Located):
            raise TopologyError(
                source,
                f"{_describe(ctx_error.loc)}: {ctx_error.message}",
                locate_line(text, ctx_error.loc),
            ) from None
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        where = _describe(loc) if loc else "topology"
        raise TopologyError(source, f"{where}: {msg}", locate_line(text, loc)) from None


def load_topology(path: Path | None) -> tuple[Topology, str]:
    """The topology at `path`, or the shipped default; returns it with its source name."""
    if path is None:
        text = resources.files("ilpnet.node").joinpath("default_topology.toml").read_text()
        return parse_topology(text, "default topology"), "default topology"
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(str(path), f"cannot read: {exc.strerror}") from exc
    return parse_topology(text, str(path)), str(path)
