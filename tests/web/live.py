"""Test plumbing for the dashboard: a server on a real port, and a reader of its events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from ilpnet.web.dashboard import create_dashboard_app
from ilpnet.web.network_view import NetworkView
from ilpnet.web.watchers import WatchIntervals
from tests.ledger.servers import LedgerProcess

FAST = WatchIntervals(ledger=0.3, connector=0.2)
WAIT = 10.0

Json = dict[str, Any]


def network_of(ledgers: dict[str, LedgerProcess], **extra: Any) -> NetworkView:
    """A network description (the shape of network.json) for running ledger processes."""
    assets = {"xrp": ("XRP", 6), "eth": ("ETH", 9), "btc": ("BTC", 8)}
    return NetworkView.from_json(
        {
            "name": "testnet",
            "ledgers": {
                key: {
                    "name": f"test.{key}",
                    "asset": assets[key][0],
                    "scale": assets[key][1],
                    "url": server.url,
                }
                for key, server in ledgers.items()
            },
            **extra,
        }
    )


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def dashboard(network: NetworkView, **kwargs: Any) -> AsyncIterator[str]:
    kwargs.setdefault("intervals", FAST)
    async with serving(create_dashboard_app(network, **kwargs)) as url:
        yield url


class EventStream:
    """The `/events` stream of a dashboard, read as (type, data) pairs."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> tuple[str, Json]:
        kind, data = "message", ""
        while True:
            raw = await self.response.content.readline()
            if not raw:
                raise ConnectionError("event stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if data:
                    return kind, json.loads(data)
                kind = "message"
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            elif field == "data":
                data += value

    async def until(self, want: Callable[[str, Json], bool], within: float = WAIT) -> Json:
        """The first event for which `want(type, data)` holds (bounded wait)."""

        async def scan() -> Json:
            while True:
                kind, data = await self.next()
                if want(kind, data):
                    return data

        return await asyncio.wait_for(scan(), within)


@asynccontextmanager
async def events(session: aiohttp.ClientSession, base: str) -> AsyncIterator[EventStream]:
    async with session.get(f"{base}/events") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        yield EventStream(resp)


async def eventually(
    session: aiohttp.ClientSession, base: str, want: Callable[[str, Json], bool]
) -> Json:
    """Wait until the dashboard's picture satisfies `want`: a fresh stream starts with the
    snapshot, so a change that already happened counts too."""
    async with events(session, base) as stream:
        return await stream.until(want)


def ledger_with(key: str, pred: Callable[[Json], bool]) -> Callable[[str, Json], bool]:
    """Matches a snapshot or `ledger` delta in which ledger `key` satisfies `pred`."""

    def match(kind: str, d: Json) -> bool:
        if kind == "snapshot":
            return key in d["state"]["ledgers"] and pred(d["state"]["ledgers"][key])
        return kind == "ledger" and d["key"] == key and pred(d["ledger"])

    return match


def connector_with(name: str, pred: Callable[[Json], bool]) -> Callable[[str, Json], bool]:
    """Matches a snapshot or `connector` delta in which connector `name` satisfies `pred`."""

    def match(kind: str, d: Json) -> bool:
        if kind == "snapshot":
            return name in d["state"]["connectors"] and pred(d["state"]["connectors"][name])
        return kind == "connector" and d["name"] == name and pred(d["connector"])

    return match


def picked(data: Json, kind: str, key: str) -> Json:
    """The ledger or connector `key` from a snapshot or a delta that matched."""
    if "state" in data:
        found: Json = data["state"][kind + "s"][key]
        return found
    found = data[kind]
    return found
