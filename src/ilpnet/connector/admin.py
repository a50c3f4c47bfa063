"""Admin HTTP API of one connector (aiohttp), every route behind a bearer token.

    GET /status     address, accounts, attached links, packets in flight
    GET /accounts   settings and balances of every account
    GET /routes     the routing table (best route per prefix)
    GET /rates      the current rate of every asset pair the accounts use
    GET /metrics    Prometheus text format

Amounts are JSON strings (they may exceed 2**53); rates are exact fractions as strings
("9/10") with a decimal rendering beside them.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from aiohttp import web

from ilpnet.connector.connector import Connector
from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.connector.rates import Asset

CONNECTOR_KEY = web.AppKey("connector", Connector)
METRICS_KEY = web.AppKey("metrics", ConnectorMetrics)


def _decimal(rate: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = 18
        return str(Decimal(rate.numerator) / Decimal(rate.denominator))


def _require_token(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise web.HTTPUnauthorized(
                text='{"error": "missing or wrong bearer token"}',
                content_type="application/json",
                headers={"WWW-Authenticate": "Bearer"},
            )
        response: web.StreamResponse = await handler(request)
        return response

    return check


async def status(request: web.Request) -> web.Response:
    c = request.app[CONNECTOR_KEY]
    pending = await c.store.pending_packets()
    holds = await c.store.held_incoming()
    return web.json_response(
        {
            "address": c.address,
            "accounts": len(c.accounts),
            "links": sorted(c.links),
            "in_flight": len(pending),
            "held": len(holds),
            "routes": len(c.routing_table.routes()),
        }
    )


async def accounts(request: web.Request) -> web.Response:
    c = request.app[CONNECTOR_KEY]
    found = []
    for account in c.accounts.values():
        b = await c.store.get_balance(account.id)
        found.append(
            {
                "id": account.id,
                "relation": account.relation.value,
                "asset_code": account.asset_code,
                "asset_scale": account.asset_scale,
                "linked": account.id in c.links,
                "balance": str(b.balance),
                "pending_in": str(b.pending_in),
                "pending_out": str(b.pending_out),
                "minimum": None if account.minimum is None else str(account.minimum),
                "maximum": None if account.maximum is None else str(account.maximum),
            }
        )
    return web.json_response(found)


async def routes(request: web.Request) -> web.Response:
    c = request.app[CONNECTOR_KEY]
    return web.json_response(
        [
            {"prefix": r.prefix, "next_hop": r.next_hop, "source": r.source, "path": list(r.path)}
            for r in c.routing_table.routes()
        ]
    )


async def rates(request: web.Request) -> web.Response:
    c = request.app[CONNECTOR_KEY]
    assets = sorted({(a.asset_code, a.asset_scale) for a in c.accounts.values()})
    found = []
    for code_a, scale_a in assets:
        for code_b, scale_b in assets:
            if (code_a, scale_a) == (code_b, scale_b):
                continue
            try:
                rate = await c.rates.spot_rate(Asset(code_a, scale_a), Asset(code_b, scale_b))
            except InsufficientLiquidityError:
                continue
            found.append(
                {
                    "source": f"{code_a}/{scale_a}",
                    "destination": f"{code_b}/{scale_b}",
                    "rate": str(rate),
                    "decimal": _decimal(rate),
                }
            )
    return web.json_response(found)


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS_KEY].exposition()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def admin_app(connector: Connector, token: str, metrics_: ConnectorMetrics) -> web.Application:
    """The admin application; pass `metrics_` as the connector's observer too."""
    if len(token) < 8:
        raise ValueError("admin token must be at least 8 characters")
    app = web.Application(middlewares=[_require_token(token)])
    app[CONNECTOR_KEY] = connector
    app[METRICS_KEY] = metrics_
    app.router.add_get("/status", status)
    app.router.add_get("/accounts", accounts)
    app.router.add_get("/routes", routes)
    app.router.add_get("/rates", rates)
    app.router.add_get("/metrics", metrics)
    return app


@dataclass
class AdminServer:
    """A running admin API; `port` is the bound port (useful with port 0)."""

    runner: web.AppRunner
    host: str
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_admin(
    connector: Connector,
    token: str,
    metrics_: ConnectorMetrics,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AdminServer:
    runner = web.AppRunner(admin_app(connector, token, metrics_), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return AdminServer(runner, host, int(bound))
