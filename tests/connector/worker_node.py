"""One worker process of a two-worker connector for the workers test: it owns the BTP link
of one child and relays to the other worker for the other child. Run:
python -m tests.connector.worker_node REDIS_URL PREFIX WORKER OWNED OTHER_WORKER OTHER PORT_FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.relay import WorkerRelay
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import RedisStore
from ilpnet.links.btp import BtpAccount, BtpServer
from tests.connector.crash_node import publish


async def main(
    url: str, prefix: str, worker: str, owned: str, other_worker: str, other: str, port_file: Path
) -> None:
    clock = SystemClock()
    store = await RedisStore.connect(url, prefix)
    server = BtpServer([BtpAccount(owned, f"token-{owned}")], clock=clock, address="test.w")
    relay = WorkerRelay(url, worker, clock, prefix=prefix, address="test.w")
    accounts = [
        AccountSettings(id=name, relation=Relation.CHILD, asset_code="USD", asset_scale=2)
        for name in sorted((owned, other))
    ]
    node = Connector(
        "test.w",
        accounts,
        store,
        clock,
        links=[server.link(owned), relay.link(other, owner=other_worker)],
        routes=[Route(f"test.{owned}", owned), Route(f"test.{other}", other)],
    )
    relay.serve(server.link(owned))
    await relay.start()
    await node.start()
    port = await server.start()
    await asyncio.to_thread(publish, port_file, port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    url, prefix, worker, owned, other_worker, other, port_file = sys.argv[1:8]
    asyncio.run(main(url, prefix, worker, owned, other_worker, other, Path(port_file)))
