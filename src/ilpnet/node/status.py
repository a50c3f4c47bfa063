"""Reads a running network: which parts answer, and what they report; connectors' balances
and routes from their admin APIs (with the tokens `ilpnet up` recorded in the state dir)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ilpnet.node.network import read_state


@dataclass(frozen=True)
class PartStatus:
    name: str
    kind: str
    url: str
    healthy: bool
    detail: str


@dataclass(frozen=True)
class AccountBalance:
    account: str
    relation: str
    asset: str
    scale: int
    balance: int
    linked: bool


@dataclass(frozen=True)
class ConnectorStatus:
    """What a connector's admin API says: its accounts' balances and its routes."""

    name: str
    address: str
    accounts: list[AccountBalance]
    routes: list[tuple[str, str]]
    error: str = ""


@dataclass(frozen=True)
class NetworkStatus:
    name: str
    parts: list[PartStatus]
    connectors: list[ConnectorStatus] = field(default_factory=list)

    @property
    def any_healthy(self) -> bool:
        return any(p.healthy for p in self.parts)


async def _probe(session: aiohttp.ClientSession, part: dict[str, Any]) -> PartStatus:
    name, kind, url = str(part["name"]), str(part["kind"]), str(part["url"])
    try:
        async with session.get(str(part["health"])) as resp:
            healthy = resp.status == 200
            body = await resp.json(content_type=None) if healthy else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return PartStatus(name, kind, url, False, "not answering")
    return PartStatus(name, kind, url, healthy, _detail(kind, body))


def _detail(kind: str, body: object) -> str:
    if not isinstance(body, dict):
        return ""
    if kind == "connector":
        links = body.get("links")
        up = sorted(k for k, v in links.items() if v) if isinstance(links, dict) else []
        return f"{body.get('address', '')}; links up: {', '.join(up) or 'none'}"
    if kind == "receiver":
        return f"{body.get('address', '')}; received {body.get('received_formatted', '?')}"
    if kind == "ledger-receiver":
        got = f"received {body.get('total', '?')} in {body.get('received', '?')} escrows"
        return f"{body.get('address', '')}; {got}"
    return ", ".join(f"{k}={v}" for k, v in body.items() if k != "status")


async def _connector(
    session: aiohttp.ClientSession, name: str, info: dict[str, Any]
) -> ConnectorStatus:
    address = str(info.get("address", ""))
    admin = str(info.get("admin_url", ""))
    if not admin:
        return ConnectorStatus(name, address, [], [], "no admin API")
    headers = {"Authorization": f"Bearer {info.get('admin_token', '')}"}
    try:
        async with session.get(f"{admin}/accounts", headers=headers) as resp:
            resp.raise_for_status()
            raw_accounts = await resp.json(content_type=None)
        async with session.get(f"{admin}/routes", headers=headers) as resp:
            resp.raise_for_status()
            raw_routes = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return ConnectorStatus(name, address, [], [], f"admin API: {exc or type(exc).__name__}")
    accounts = [
        AccountBalance(
            str(a["id"]),
            str(a["relation"]),
            str(a["asset_code"]),
            int(a["asset_scale"]),
            int(a["balance"]),
            bool(a["linked"]),
        )
        for a in raw_accounts
    ]
    routes = [(str(r["prefix"]), str(r["next_hop"])) for r in raw_routes]
    return ConnectorStatus(name, address, accounts, routes)


async def read_status(state_dir: Path) -> NetworkStatus | None:
    """Status of the network recorded in `state_dir`, or None when none was started there."""
    state = read_state(state_dir)
    if state is None:
        return None
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        parts = await asyncio.gather(*(_probe(session, p) for p in state.get("parts", [])))
        connectors = await asyncio.gather(
            *(
                _connector(session, str(name), info)
                for name, info in (state.get("connectors") or {}).items()
                if isinstance(info, dict)
            )
        )
    return NetworkStatus(str(state.get("name", "ilpnet")), list(parts), list(connectors))
