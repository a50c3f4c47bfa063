"""The dashboard reading real connectors' admin APIs: packets, accounts, routes, rates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp

from ilpnet.connector.admin import start_admin
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.wire.packet import Fulfill, Reject
from tests.connector.line import Line, line, store_factory
from tests.ledger.servers import LedgerProcess
from tests.web.live import Json, connector_with, dashboard, eventually, network_of, picked

TOKEN = "dashboard-admin-token"


@asynccontextmanager
async def admins(tmp_path: Path) -> AsyncIterator[tuple[Line, dict[str, str]]]:
    """The three-connector line (A–B–C), with A's and B's admin APIs on real ports."""
    metrics = {"a": ConnectorMetrics(), "b": ConnectorMetrics()}
    options = {name: {"observer": m} for name, m in metrics.items()}
    async with (
        line(store_factory("memory", tmp_path, None), connector_options=options) as net,
        AsyncExitStack() as stack,
    ):
        urls = {}
        for name, node in (("a", net.a), ("b", net.b)):
            server = await start_admin(node, TOKEN, metrics[name])
            stack.push_async_callback(server.close)
            urls[name] = f"http://127.0.0.1:{server.port}"
        yield net, urls


def connector(url: str, peers: list[str], token: str = TOKEN) -> Json:
    return {"admin_url": url, "admin_token": token, "peers": peers, "btp_url": "ws://x:1"}


async def test_packets_accounts_routes_and_rates_come_from_the_admin_api(
    tmp_path: Path, ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession
) -> None:
    async with admins(tmp_path) as (net, urls):
        connectors = {"a": connector(urls["a"], ["b"]), "b": connector(urls["b"], ["a"])}
        async with dashboard(network_of(ledgers, connectors=connectors)) as base:
            assert isinstance(await net.pay(1000), Fulfill)
            assert isinstance(await net.pay(10, "test.nowhere"), Reject)
            seen = await eventually(
                http,
                base,
                connector_with("a", lambda c: c["packets"] == {"fulfilled": 1, "rejected": 1}),
            )
            a = picked(seen, "connector", "a")
            assert a["reachable"] is True
            assert a["address"] == "test.a"
            accounts = {x["id"]: x for x in a["accounts"]}
            assert accounts["sender"]["balance"] == "1000"
            assert (accounts["sender"]["asset"], accounts["sender"]["scale"]) == ("USD", 2)
            assert accounts["b"]["balance"] is not None
            assert int(accounts["b"]["balance"]) < 0  # A owes B what it forwarded
            assert {"prefix": "test", "next_hop": "b", "path": []} in a["routes"]
            pairs = {r["pair"]: r for r in a["rates"]}
            assert "USD/2 → EUR/6" in pairs
            assert "/" in pairs["USD/2 → EUR/6"]["exact"]  # exact fraction kept beside
            # B saw the fulfilled packet pass through it too
            await eventually(
                http, base, connector_with("b", lambda c: c["packets"]["fulfilled"] == 1)
            )


async def test_a_wrong_admin_token_is_shown_not_hidden(
    tmp_path: Path, ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession
) -> None:
    async with admins(tmp_path) as (_, urls):
        connectors = {"a": connector(urls["a"], [], token="not-the-token")}
        async with dashboard(network_of(ledgers, connectors=connectors)) as base:
            seen = await eventually(
                http, base, connector_with("a", lambda c: c["reachable"] is False)
            )
            assert "HTTP 401" in picked(seen, "connector", "a")["error"]
