"""`--close-interval`: writes wait for the next ledger close and share its commit."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from ilpnet.clock import SystemClock
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.server import LedgerServer
from tests.ledger.conftest import CONFIG
from tests.ledger.parties import open_account


async def test_writes_wait_for_the_close_and_share_one_commit(tmp_path: Path) -> None:
    config = replace(CONFIG, close_interval_ms=150)
    async with (
        LedgerServer(config, tmp_path / "slow.sqlite3", clock=SystemClock()) as server,
        LedgerClient(server.url) as c,
    ):
        alice = await open_account(c, "alice", 1_000)
        await open_account(c, "bob")
        before = await c.status()
        done = await asyncio.gather(*(alice.transfer("bob", i + 1) for i in range(10)))
        after = await c.status()
        assert after["writes"] - before["writes"] == 10
        assert after["commits"] - before["commits"] == 1
        assert len({t.created_at for t in done}) == 1  # one ledger close, one time
        assert await alice.balance() == 1_000 - 55
        info = await c.info()
        assert info.close_interval_ms == 150
