"""Real ledger servers (subprocesses) shared by the web tests of a worker, and unique names."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.ledger.servers import LedgerProcess, start_ledger

_names = itertools.count()


@pytest.fixture(scope="session")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LedgerProcess]]:
    """Two real ledgers: XRP (scale 6, no fee) and ETH (scale 9, fee 2000)."""
    directory = tmp_path_factory.mktemp("ledgers")
    xrp = start_ledger(directory, name="test.xrp", asset="XRP", scale=6)
    try:
        eth = start_ledger(directory, name="test.eth", asset="ETH", scale=9, fee=2000)
    except BaseException:
        xrp.stop()
        raise
    try:
        yield {"xrp": xrp, "eth": eth}
    finally:
        xrp.stop()
        eth.stop()


@pytest.fixture
def name() -> str:
    """A fresh account-name stem, so tests sharing ledgers never collide."""
    return f"u{next(_names)}-{id(_names) % 9973}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session
