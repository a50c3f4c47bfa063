"""In-process ledger servers with a ManualClock, and clients for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ilpnet.clock import ManualClock
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.faucet import FaucetPolicy
from ilpnet.ledger.server import LedgerServer
from ilpnet.ledger.service import LedgerConfig

CONFIG = LedgerConfig(
    name="test.xrp",
    asset_code="XRP",
    asset_scale=6,
    fee=0,
    faucet=FaucetPolicy(max_amount=1_000_000_000, per_account=1000, per_client=10_000),
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger_config() -> LedgerConfig:
    return CONFIG


@pytest.fixture
async def server(
    tmp_path: Path, clock: ManualClock, ledger_config: LedgerConfig
) -> AsyncIterator[LedgerServer]:
    async with LedgerServer(ledger_config, tmp_path / "ledger.sqlite3", clock=clock) as s:
        yield s


@pytest.fixture
async def client(server: LedgerServer) -> AsyncIterator[LedgerClient]:
    async with LedgerClient(server.url) as c:
        yield c
