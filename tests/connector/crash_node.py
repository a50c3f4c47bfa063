"""A connector process for the crash test: two BTP children (`sender`, `receiver`), a
store from argv, the bound port written to a file. Run: python -m tests.connector.crash_node
STORE_URL PORT_FILE."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.store import open_store
from ilpnet.links.btp import BtpAccount, BtpServer


def publish(port_file: Path, port: int) -> None:
    """Write the port so a reader never sees half of it."""
    partial = port_file.with_suffix(".partial")
    partial.write_text(str(port))
    partial.replace(port_file)


async def main(store_url: str, port_file: Path) -> None:
    clock = SystemClock()
    store = await open_store(store_url)
    server = BtpServer(
        [BtpAccount("sender", "token-s"), BtpAccount("receiver", "token-r")],
        clock=clock,
        address="test.n",
    )
    node = Connector(
        "test.n",
        [
            AccountSettings(id="sender", relation=Relation.CHILD, asset_code="USD", asset_scale=2),
            AccountSettings(
                id="receiver", relation=Relation.CHILD, asset_code="USD", asset_scale=2
            ),
        ],
        store,
        clock,
        links=list(server.links.values()),
        sweep_interval=0.2,
    )
    await node.start()
    port = await server.start()
    await asyncio.to_thread(publish, port_file, port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
