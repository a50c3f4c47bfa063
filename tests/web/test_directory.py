"""The directory: every connector's BTP and HTTP endpoints, as a page and as JSON."""

from __future__ import annotations

import aiohttp

from tests.ledger.servers import LedgerProcess
from tests.web.live import dashboard, network_of

CONNECTORS = {
    "alice": {
        "address": "test.alice",
        "admin_url": "http://127.0.0.1:9/",
        "admin_token": "secret-admin-token",
        "btp_url": "ws://127.0.0.1:7811",
        "http_url": "http://127.0.0.1:7812",
        "ledgers": ["xrp", "eth"],
        "peers": ["bob"],
    },
    "bob": {"address": "test.bob", "btp_url": "ws://127.0.0.1:7821", "ledgers": ["eth"]},
    "evil": {"address": "test.<script>alert(1)</script>", "ledgers": []},
}


async def test_directory_lists_every_connector_with_its_endpoints(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession
) -> None:
    async with dashboard(network_of(ledgers, connectors=CONNECTORS)) as base:
        async with http.get(f"{base}/directory.json") as resp:
            assert resp.status == 200
            data = await resp.json()
        by_name = {c["name"]: c for c in data["connectors"]}
        assert sorted(by_name) == ["alice", "bob", "evil"]
        assert by_name["alice"]["btp"] == "ws://127.0.0.1:7811"
        assert by_name["alice"]["http"] == "http://127.0.0.1:7812"
        assert [x["asset"] for x in by_name["alice"]["ledgers"]] == ["XRP", "ETH"]
        assert by_name["bob"]["http"] == ""
        assert {x["key"] for x in data["ledgers"]} == {"xrp", "eth"}

        async with http.get(f"{base}/directory") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            page = await resp.text()
        for text in ("ws://127.0.0.1:7811", "http://127.0.0.1:7812", "ws://127.0.0.1:7821"):
            assert text in page
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;" in page
        for where in (page, str(data)):
            assert "secret-admin-token" not in where
            assert "127.0.0.1:9/" not in where
