"""What the dashboard shows: the network's ledgers, connectors and receivers, from a dict.

The dict has the shape of the `network.json` that `ilpnet up` writes:

    {"name": "ilpnet",
     "ledgers": {"xrp": {"name": "test.xrp", "asset": "XRP", "scale": 6,
                         "url": "http://127.0.0.1:7700"}},
     "connectors": {"alice": {"address": "test.alice", "admin_url": "http://...",
                              "admin_token": "...", "btp_url": "ws://...",
                              "http_url": "http://...", "public_url": "http://...",
                              "ledgers": ["xrp"],
                              "peers": ["bob"]}},
     "receivers": [{"ledger": "xrp", "pointer": "$127.0.0.1:7710/xrp",
                    "account": "receiver", "secret": "...", "connector": "alice",
                    "health": "http://127.0.0.1:7710/health"}],
     "ledger_receivers": [{"ledger": "xrp", "account": "receiver", "secret": "...",
                           "invoice_url": "http://127.0.0.1:7711/invoice"}]}

Only `ledgers` is required; unknown keys are ignored so the file can grow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class NetworkFileError(ValueError):
    """A network description the dashboard cannot use; the message names the field."""


@dataclass(frozen=True, slots=True)
class LedgerView:
    key: str
    name: str
    asset: str
    scale: int
    url: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "asset": self.asset,
            "scale": self.scale,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class ConnectorView:
    """One connector: where to read it (admin API) and where others reach it (BTP, HTTP)."""

    name: str
    address: str = ""
    admin_url: str = ""
    admin_token: str = field(default="", repr=False)
    btp_url: str = ""
    http_url: str = ""
    public_url: str = ""  # an escrow connector's public API (quotes, deposits, payments)
    ledgers: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Public facts only: never the admin token."""
        return {
            "name": self.name,
            "address": self.address,
            "btp_url": self.btp_url,
            "http_url": self.http_url,
            "public_url": self.public_url,
            "admin": bool(self.admin_url),
            "ledgers": list(self.ledgers),
            "peers": list(self.peers),
        }


@dataclass(frozen=True, slots=True)
class ReceiverView:
    """A test receiver: a payment pointer, and optionally its ledger account to watch, the
    connector it is a child of, and its `GET /health` URL (which tells what it received)."""

    ledger: str
    pointer: str
    account: str = ""
    secret: str = field(default="", repr=False)
    connector: str = ""
    health_url: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "pointer": self.pointer,
            "account": self.account,
            "connector": self.connector,
            "health": self.health_url,
        }


@dataclass(frozen=True, slots=True)
class NetworkView:
    name: str
    ledgers: Mapping[str, LedgerView]
    connectors: Mapping[str, ConnectorView] = field(default_factory=dict)
    receivers: tuple[ReceiverView, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NetworkView:
        if not isinstance(data, Mapping):
            raise NetworkFileError("network: expected a JSON object")
        raw_ledgers = _mapping(data.get("ledgers"), "ledgers")
        ledgers = {
            str(key): _ledger(str(key), _mapping(raw, f"ledgers.{key}"))
            for key, raw in raw_ledgers.items()
        }
        raw_connectors = _mapping(data.get("connectors") or {}, "connectors")
        connectors = {
            str(name): _connector(str(name), _mapping(raw, f"connectors.{name}"))
            for name, raw in raw_connectors.items()
        }
        for conn in connectors.values():
            for key in conn.ledgers:
                if key not in ledgers:
                    where = f"connectors.{conn.name}.ledgers"
                    raise NetworkFileError(f"{where}: unknown ledger {key!r}")
        raw_receivers = data.get("receivers")
        if raw_receivers is None:
            raw_receivers = []
        if not isinstance(raw_receivers, list):
            raise NetworkFileError("receivers: expected a list")
        receivers = tuple(
            _receiver(_mapping(raw, f"receivers[{i}]"), i) for i, raw in enumerate(raw_receivers)
        )
        raw_on_ledger = data.get("ledger_receivers") or []
        if not isinstance(raw_on_ledger, list):
            raise NetworkFileError("ledger_receivers: expected a list")
        receivers += tuple(
            _ledger_receiver(_mapping(raw, f"ledger_receivers[{i}]"), i)
            for i, raw in enumerate(raw_on_ledger)
        )
        return cls(str(data.get("name") or "ilpnet"), ledgers, connectors, receivers)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ledgers": {k: v.to_json() for k, v in self.ledgers.items()},
            "connectors": {k: v.to_json() for k, v in self.connectors.items()},
            "receivers": [r.to_json() for r in self.receivers],
        }


def load_network_file(path: Path) -> NetworkView:
    """Read and check a network file; `NetworkFileError` says what is wrong with it."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise NetworkFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise NetworkFileError(f"{path}: not JSON: {exc}") from None
    try:
        return NetworkView.from_json(data)
    except NetworkFileError as exc:
        raise NetworkFileError(f"{path}: {exc}") from None


def _mapping(raw: object, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise NetworkFileError(f"{where}: expected an object")
    return raw


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise NetworkFileError(f"{where}.{key}: expected a non-empty string")
    return value


def _names(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NetworkFileError(f"{where}.{key}: expected a list of names")
    return tuple(value)


def _ledger(key: str, raw: Mapping[str, Any]) -> LedgerView:
    where = f"ledgers.{key}"
    scale = raw.get("scale")
    if not isinstance(scale, int) or isinstance(scale, bool) or not 0 <= scale <= 18:
        raise NetworkFileError(f"{where}.scale: expected an integer in [0, 18]")
    return LedgerView(
        key=key,
        name=_text(raw, "name", where),
        asset=_text(raw, "asset", where),
        scale=scale,
        url=_text(raw, "url", where).rstrip("/"),
    )


def _connector(name: str, raw: Mapping[str, Any]) -> ConnectorView:
    where = f"connectors.{name}"
    return ConnectorView(
        name=name,
        address=_text(raw, "address", where, required=False),
        admin_url=_text(raw, "admin_url", where, required=False).rstrip("/"),
        admin_token=_text(raw, "admin_token", where, required=False),
        btp_url=_text(raw, "btp_url", where, required=False),
        http_url=_text(raw, "http_url", where, required=False),
        public_url=_text(raw, "public_url", where, required=False).rstrip("/"),
        ledgers=_names(raw, "ledgers", where),
        peers=_names(raw, "peers", where),
    )


def _ledger_receiver(raw: Mapping[str, Any], index: int) -> ReceiverView:
    """A receiver of on-ledger escrows: its account is watched, its invoice URL is what a
    payer pays (the dashboard's send form takes it as a destination)."""
    where = f"ledger_receivers[{index}]"
    return ReceiverView(
        ledger=_text(raw, "ledger", where),
        pointer=_text(raw, "invoice_url", where),
        account=_text(raw, "account", where),
        secret=_text(raw, "secret", where, required=False),
    )


def _receiver(raw: Mapping[str, Any], index: int) -> ReceiverView:
    where = f"receivers[{index}]"
    return ReceiverView(
        ledger=_text(raw, "ledger", where),
        pointer=_text(raw, "pointer", where),
        account=_text(raw, "account", where, required=False),
        secret=_text(raw, "secret", where, required=False),
        connector=_text(raw, "connector", where, required=False),
        health_url=_text(raw, "health", where, required=False),
    )
