"""A notification subscription survives its ledger being SIGKILLed and restarted: it
reconnects by itself and resumes after the last event it saw, with no gap or repeat."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import Event
from tests.ledger.parties import open_account
from tests.ledger.servers import start_ledger_async


async def test_subscription_resumes_across_a_crash(tmp_path: Path) -> None:
    server = await start_ledger_async(tmp_path)
    try:
        async with LedgerClient(server.url) as c:
            alice = await open_account(c, "alice", 1_000)
            bob = await open_account(c, "bob")
            sub = bob.subscribe(retry_delay=0.05)
            seen: list[Event] = []
            first_three = asyncio.Event()

            async def consume() -> None:
                async for event in sub:
                    seen.append(event)
                    if len(seen) == 3:
                        first_three.set()
                    if len(seen) == 6:
                        return

            consumer = asyncio.create_task(consume())
            for amount in (1, 2, 3):
                await alice.transfer("bob", amount, request_id=f"t{amount}")
            await asyncio.wait_for(first_three.wait(), 5)
            server.kill()
            await asyncio.to_thread(server.restart)
            for amount in (4, 5, 6):
                await alice.transfer("bob", amount, request_id=f"t{amount}")
            await asyncio.wait_for(consumer, 10)
            await sub.close()
            assert [e.seq for e in seen] == [1, 2, 3, 4, 5, 6]
            assert [e.transfer.amount for e in seen if e.transfer] == [1, 2, 3, 4, 5, 6]
            assert sub.connects >= 2
            assert await bob.balance() == 21
    finally:
        server.stop()
