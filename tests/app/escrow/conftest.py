"""Fixtures of the escrow payment tests: three ledger processes, an escrow connector with its
public API on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ilpnet.connector.escrow_service import EscrowConnector
from tests.links.escrow_net import connector, ledgers, public_api

__all__ = ["api_url", "connector", "ledgers"]


@pytest.fixture
async def api_url(connector: EscrowConnector) -> AsyncIterator[str]:
    async with public_api(connector) as url:
        yield url
