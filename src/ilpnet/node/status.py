"""Reads a running network: which parts answer, and what they report."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
class NetworkStatus:
    name: str
    parts: list[PartStatus]

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
    detail = ""
    if isinstance(body, dict):
        detail = ", ".join(f"{k}={v}" for k, v in body.items() if k != "status")
    return PartStatus(name, kind, url, healthy, detail)


async def read_status(state_dir: Path) -> NetworkStatus | None:
    """Status of the network recorded in `state_dir`, or None when none was started there."""
    state = read_state(state_dir)
    if state is None:
        return None
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        parts = await asyncio.gather(*(_probe(session, p) for p in state.get("parts", [])))
    return NetworkStatus(str(state.get("name", "ilpnet")), list(parts))
