"""A network topology: which ledgers and connectors `ilpnet up` starts, read from TOML.

Mistakes (unknown ledger, port clash, a connector with no links) are refused before
anything starts, with the line of the file they are on.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

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


class PeerSpec(_Strict):
    """A BTP peering with another connector of the topology."""

    connector: Name
    asset: str = Field(pattern=r"^[A-Z0-9]{1,12}$")
    scale: int = Field(ge=0, le=18)
    maximum: int = Field(default=10**12, ge=0)


class ConnectorSpec(_Strict):
    """One connector: the ledgers it holds accounts on and the connectors it peers with."""

    ledgers: list[Name] = Field(default_factory=list)
    peers: list[PeerSpec] = Field(default_factory=list)
    store: str = "sqlite"
    port: int | None = Field(default=None, ge=1024, le=65535)
    spread: str = "0.002"

    @model_validator(mode="after")
    def _has_links(self) -> ConnectorSpec:
        if not self.ledgers and not self.peers:
            raise ValueError("a connector needs at least one ledger or peer")
        return self


class Topology(_Strict):
    network: NetworkSettings = NetworkSettings()
    ledgers: dict[Name, LedgerSpec] = Field(default_factory=dict)
    connectors: dict[Name, ConnectorSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Topology:
        if not self.ledgers:
            raise ValueError("a network needs at least one ledger")
        names = [spec.name for spec in self.ledgers.values()]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"ledger name used twice: {sorted(dup)[0]}")
        ports: dict[int, str] = {}
        for kind, parts in (("ledgers", self.ledgers), ("connectors", self.connectors)):
            for key, part in parts.items():
                if part.port is None:
                    continue
                if part.port in ports:
                    raise _Located(
                        (kind, key, "port"), f"port {part.port} is also used by {ports[part.port]}"
                    )
                ports[part.port] = f"{kind}.{key}"
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
        return self


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
