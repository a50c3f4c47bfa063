"""Fixtures of the escrow payment tests: three ledger processes, an escrow connector with its
public API on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ilpnet.connector.escrow_service import EscrowConnector
from ilpnet.connector.public_api import add_public_routes
from tests.links.escrow_net import connector, ledgers

__all__ = ["api_url", "connector", "ledgers"]


@pytest.fixture
async def api_url(connector: EscrowConnector) -> AsyncIterator[str]:
    app = web.Application()
    add_public_routes(app, connector.ledgers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
