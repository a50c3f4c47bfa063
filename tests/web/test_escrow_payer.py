"""The send form across ledgers: three real ledgers and a real escrow connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from ilpnet.connector.escrow_service import EscrowConnector
from ilpnet.ledger.client import LedgerClient
from ilpnet.web.network_view import NetworkView
from ilpnet.web.wallet import Wallet
from tests.links.escrow_net import Ledgers, connector, ledgers, public_api
from tests.web.live import Json, dashboard, eventually, ledger_with

__all__ = ["connector", "ledgers"]

ASSETS = {"xrp": ("XRP", 6), "eth": ("ETH", 9), "usd": ("USD", 2)}


@pytest.fixture
async def public_url(connector: EscrowConnector) -> AsyncIterator[str]:
    async with public_api(connector) as url:
        yield url


def escrow_network(ledgers: Ledgers, public_url: str) -> NetworkView:
    return NetworkView.from_json(
        {
            "name": "escrow-net",
            "ledgers": {
                key: {
                    "name": f"test.{key}",
                    "asset": asset,
                    "scale": scale,
                    "url": ledgers.url(f"test.{key}"),
                }
                for key, (asset, scale) in ASSETS.items()
            },
            "connectors": {
                "conn": {
                    "address": "test.conn",
                    "public_url": public_url,
                    "ledgers": list(ASSETS),
                }
            },
        }
    )


async def post(http: aiohttp.ClientSession, url: str, body: Json) -> tuple[int, Json]:
    async with http.post(url, json=body) as resp:
        answer: Json = await resp.json()
        return resp.status, answer


async def test_send_form_pays_across_ledgers_through_the_escrow_connector(
    ledgers: Ledgers, public_url: str, http: aiohttp.ClientSession, name: str
) -> None:
    alice, bob = f"{name}-alice", f"{name}-bob"
    wallet = Wallet(b"w" * 32)
    async with dashboard(escrow_network(ledgers, public_url), wallet=wallet) as base:
        for ledger, who, amount in (("xrp", alice, "100"), ("usd", bob, "1")):
            status, answer = await post(
                http, f"{base}/api/faucet", {"ledger": ledger, "account": who, "amount": amount}
            )
            assert status == 200, answer
        status, answer = await post(
            http,
            f"{base}/api/send",
            {"ledger": "xrp", "account": alice, "to_ledger": "usd", "to": bob, "amount": "5"},
        )
        assert status == 200, answer
        payment = answer["payment"]
        assert payment["kind"] == "ilp"
        assert payment["state"] == "fulfilled"
        assert payment["amount"] == "5000000"
        delivered = int(payment["delivered"])
        assert delivered > 0
        assert payment["path"] == [
            f"account:xrp/{alice}",
            "ledger:xrp",
            "connector:conn",
            "ledger:usd",
            f"account:usd/{bob}",
        ]
        # bob really got it on the USD ledger, and the page is told
        async with LedgerClient(
            ledgers.url("test.usd"), bob, wallet.derived_secret("usd", bob)
        ) as c:
            assert await c.balance() == 100 + delivered
        await eventually(
            http,
            base,
            ledger_with("usd", lambda lg: lg["accounts"].get(bob) == str(100 + delivered)),
        )
        for key in ASSETS:
            async with LedgerClient(ledgers.url(f"test.{key}")) as client:
                assert (await client.books()).balanced


async def test_across_ledgers_only_to_accounts_the_dashboard_can_receive_for(
    ledgers: Ledgers, public_url: str, http: aiohttp.ClientSession, name: str
) -> None:
    alice = f"{name}-alice"
    async with dashboard(escrow_network(ledgers, public_url)) as base:
        await post(http, f"{base}/api/faucet", {"ledger": "xrp", "account": alice, "amount": "10"})
        status, answer = await post(
            http,
            f"{base}/api/send",
            {
                "ledger": "xrp",
                "account": alice,
                "to_ledger": "eth",
                "to": "stranger",
                "amount": "1",
            },
        )
        assert status == 400
        assert "not an account the dashboard knows" in answer["message"]
