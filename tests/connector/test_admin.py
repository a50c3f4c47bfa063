"""The admin API over real HTTP on loopback: token required, balances, routes, rates, metrics."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ilpnet.connector.admin import AdminServer, start_admin
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.wire.packet import Fulfill, Reject
from tests.connector.line import Line, StoreFactory, line, store_factory

TOKEN = "admin-token-123"


@pytest.fixture
def make_memory(tmp_path: Path) -> StoreFactory:
    return store_factory("memory", tmp_path, None)


@pytest.fixture
async def admin(make_memory: StoreFactory) -> AsyncIterator[tuple[Line, AdminServer]]:
    metrics = ConnectorMetrics()
    async with line(make_memory, connector_options={"a": {"observer": metrics}}) as net:
        server = await start_admin(net.a, TOKEN, metrics)
        try:
            yield net, server
        finally:
            await server.close()


async def get(server: AdminServer, path: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{server.port}{path}", headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_token_is_required(admin: tuple[Line, AdminServer]) -> None:
    _, server = admin
    for path in ("/status", "/accounts", "/metrics"):
        assert (await get(server, path, None))[0] == 401
        assert (await get(server, path, "wrong-token"))[0] == 401


async def test_status_accounts_routes_rates(admin: tuple[Line, AdminServer]) -> None:
    net, server = admin
    assert isinstance(await net.pay(1000), Fulfill)
    status, body = await get(server, "/status")
    assert status == 200
    assert json.loads(body) == {
        "address": "test.a",
        "accounts": 2,
        "links": ["b", "sender"],
        "in_flight": 0,
        "held": 0,
        "routes": 2,
    }
    accounts = {a["id"]: a for a in json.loads((await get(server, "/accounts"))[1])}
    assert accounts["sender"]["balance"] == "1000"
    assert accounts["b"]["balance"] == "-8893245"
    routes = json.loads((await get(server, "/routes"))[1])
    assert {"prefix": "test", "next_hop": "b", "source": "static", "path": []} in routes
    assert {"prefix": "test.a.sender", "next_hop": "sender", "source": "local", "path": []} in (
        routes
    )
    rates = json.loads((await get(server, "/rates"))[1])
    usd_eur = next(r for r in rates if r["source"] == "USD/2")
    # holdings now USD 1010, EUR 891.106755: per cent, in EUR micro-units, minus 0.2 %
    assert usd_eur["destination"] == "EUR/6"
    assert float(usd_eur["decimal"]) == pytest.approx(891.106755 / 1010 * 10**4 * 0.998)


async def test_metrics_count_results_and_codes(admin: tuple[Line, AdminServer]) -> None:
    net, server = admin
    assert isinstance(await net.pay(1000), Fulfill)
    assert isinstance(await net.pay(100, "g.nowhere"), Reject)
    status, text = await get(server, "/metrics")
    assert status == 200
    assert (
        'ilpnet_packets_total{code="",incoming="sender",outgoing="b",result="fulfilled"} 1.0'
        in text
    )
    rejected = 'ilpnet_packets_total{code="F02",incoming="sender",outgoing="-",result="rejected"}'
    assert f"{rejected} 1.0" in text
    assert 'ilpnet_fulfilled_amount_total{account="sender",direction="in"} 1000.0' in text
    assert 'ilpnet_fulfilled_amount_total{account="b",direction="out"} 8.893245e+06' in text
    assert 'ilpnet_packet_seconds_count{outgoing="b"} 1.0' in text
