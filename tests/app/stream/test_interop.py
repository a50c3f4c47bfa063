"""STREAM against the JavaScript reference (`ilp-protocol-stream` 2.7.1 from npm), both ways,
through a real ilpnet connector serving BTP on 127.0.0.1 with two assets (USD scale 2 and
XRP scale 6, 1 USD = 2 XRP): a JS sender pays our receiver (found by SPSP), and our sender
pays a JS receiver. Amounts delivered must match exactly on both ends."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from ilpnet.app.receiver import Receiver
from ilpnet.app.spsp import resolve
from ilpnet.app.stream.client import StreamClient
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.rates import Rates
from ilpnet.connector.store.memory import MemoryStore
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpServer
from ilpnet.links.ildcp import fetch_config
from tests.interop.npm_reference import node_script, read_json_line, require_npm_packages

pytestmark = pytest.mark.interop

STREAM_PACKAGES = ("ilp-protocol-stream@2.7.1", "ilp-plugin-btp@1.5.0")
JS = Path(__file__).resolve().parent / "js"
WAIT = 60.0  # node start-up is slow on a loaded machine
RATE = 20_000  # USD cents → XRP drops (scale 6) at 1 USD = 2 XRP


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return require_npm_packages(STREAM_PACKAGES)


@dataclass
class Hub:
    port: int
    connector: Connector

    def btp_url(self, token: str) -> str:
        return f"btp+ws://:{token}@127.0.0.1:{self.port}/"


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    clock = SystemClock()
    accounts = [
        AccountSettings(
            id="usd",
            relation=Relation.CHILD,
            asset_code="USD",
            asset_scale=2,
            max_packet_amount=1000,
        ),
        AccountSettings(id="xrp", relation=Relation.CHILD, asset_code="XRP", asset_scale=6),
    ]
    btp = BtpServer(
        [BtpAccount("usd", token="usd-token"), BtpAccount("xrp", token="xrp-token")],
        clock=clock,
        address="test.hub",
    )
    connector = Connector(
        "test.hub", accounts, MemoryStore(), clock, rates=Rates(fixed={("USD", "XRP"): Fraction(2)})
    )
    connector.attach(btp.link("usd"))
    connector.attach(btp.link("xrp"))
    port = await btp.start("127.0.0.1", 0)
    await connector.start()
    yield Hub(port, connector)
    await connector.close()
    await btp.close()


@asynccontextmanager
async def node(
    node_modules: Path, script: str, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    async with node_script(node_modules, JS / script, *args) as proc:
        yield proc


async def test_js_sender_pays_our_receiver(node_modules: Path, hub: Hub) -> None:
    url = f"ws://127.0.0.1:{hub.port}"
    async with Receiver(connector=url, token="xrp-token") as receiver:
        details = await resolve(receiver.pointer, insecure_http=True)
        secret = base64.b64encode(details.shared_secret).decode()
        async with node(
            node_modules,
            "stream_sender.js",
            hub.btp_url("usd-token"),
            details.destination_account,
            secret,
            "2500",
        ) as proc:
            result = await read_json_line(proc)
            assert await asyncio.wait_for(proc.wait(), WAIT) == 0

        assert result["sent"] == "2500"
        assert result["delivered"] == str(2500 * RATE)
        assert result["destAsset"] == ["XRP", 6]
        stream = receiver.stream
        assert stream is not None
        (connection,) = stream.connections.values()
        assert connection.total_received == 2500 * RATE
        assert connection.remote_asset == AssetDetails("USD", 2)


async def test_our_sender_pays_a_js_receiver(node_modules: Path, hub: Hub) -> None:
    async with node(node_modules, "stream_receiver.js", hub.btp_url("xrp-token")) as proc:
        setup = await read_json_line(proc)
        link = BtpClientLink(f"ws://127.0.0.1:{hub.port}", "parent", token="usd-token")
        await link.start()
        try:
            config = await fetch_config(link, SystemClock())
            client = StreamClient(
                link,
                destination=setup["destinationAccount"],
                shared_secret=base64.b64decode(setup["sharedSecret"]),
                own_address=config.client_address,
                asset=AssetDetails(config.asset_code, config.asset_scale),
            )
            receipt = await asyncio.wait_for(client.payment(source_amount=3000).run(), WAIT)
            await client.close()
        finally:
            await link.close()

        assert receipt.complete
        assert receipt.sent == 3000
        assert receipt.delivered == 3000 * RATE
        assert (receipt.destination_code, receipt.destination_scale) == ("XRP", 6)
        total = 0
        while total < receipt.delivered:
            line = await read_json_line(proc)
            total = int(line["total"])
        assert total == receipt.delivered
