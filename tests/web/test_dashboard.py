"""The dashboard server against real ledger servers: forms, live events, books."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from ilpnet.clock import SystemClock
from ilpnet.ledger.client import LedgerClient
from ilpnet.web.wallet import Wallet
from tests.ledger.parties import hashlock
from tests.ledger.servers import LedgerProcess, start_ledger_async
from tests.redis_server import free_port
from tests.web.live import (
    Json,
    connector_with,
    dashboard,
    events,
    eventually,
    ledger_with,
    network_of,
    picked,
)


async def post(http: aiohttp.ClientSession, url: str, body: Json) -> tuple[int, Json]:
    async with http.post(url, json=body) as resp:
        answer: Json = await resp.json()
        return resp.status, answer


def balance_is(account: str, value: int) -> Any:
    return lambda ledger: ledger["accounts"].get(account) == str(value)


async def test_page_health_and_snapshot_show_the_ledgers(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession
) -> None:
    async with dashboard(network_of(ledgers)) as base:
        async with http.get(f"{base}/") as resp:
            assert resp.status == 200
            page = await resp.text()
            assert "/static/dashboard.js" in page
            assert 'id="graph"' in page
        for asset in ("dashboard.js", "dashboard.css"):
            async with http.get(f"{base}/static/{asset}") as resp:
                assert resp.status == 200, asset
        async with http.get(f"{base}/health") as resp:
            health = await resp.json()
            assert health["status"] == "ok"
            assert health["ledgers"] == 2
        async with events(http, base) as stream:
            first = await stream.until(lambda kind, _: kind == "snapshot")
            assert set(first["state"]["ledgers"]) == {"xrp", "eth"}
            assert first["state"]["ledgers"]["eth"]["asset"] == "ETH"
        async with events(http, base) as stream:
            # the books arrive from the real ledgers without asking
            books = await stream.until(ledger_with("eth", lambda lg: lg["books"] is not None))
            ledger = picked(books, "ledger", "eth")
            assert ledger["healthy"] is True
            assert ledger["books"]["balanced"] is True
        async with http.get(f"{base}/api/state") as resp:
            state = await resp.json()
            assert state["ledgers"]["xrp"]["url"] == ledgers["xrp"].url


async def test_faucet_form_mints_and_the_balance_is_pushed(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    wallet = Wallet(b"k" * 32)
    account = f"{name}-alice"
    async with dashboard(network_of(ledgers), wallet=wallet) as base, events(http, base) as stream:
        await stream.next()
        status, answer = await post(
            http, f"{base}/api/faucet", {"ledger": "xrp", "account": account, "amount": "12.5"}
        )
        assert status == 200, answer
        assert answer["balance"] == "12500000"
        assert answer["balance_display"] == "12.5 XRP"
        await stream.until(ledger_with("xrp", balance_is(account, 12_500_000)))
        # the money is really on the ledger, under the wallet's derived secret
        secret = wallet.derived_secret("xrp", account)
        async with LedgerClient(ledgers["xrp"].url, account, secret) as client:
            assert await client.balance() == 12_500_000
        # a second faucet on the same account adds up
        status, answer = await post(
            http, f"{base}/api/faucet", {"ledger": "xrp", "account": account, "amount": "1"}
        )
        assert status == 200
        assert answer["balance"] == "13500000"
        await stream.until(ledger_with("xrp", balance_is(account, 13_500_000)))


async def test_faucet_form_refuses_bad_input_with_a_clear_message(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    async with dashboard(network_of(ledgers)) as base:
        url = f"{base}/api/faucet"
        xrp = {"ledger": "xrp", "account": "a"}
        cases: list[tuple[Json, str, str]] = [
            ({**xrp, "ledger": "doge", "amount": "1"}, "unknown_ledger", "doge"),
            ({**xrp, "account": "Bad Name", "amount": "1"}, "invalid_request", "account"),
            ({**xrp, "amount": "-3"}, "invalid_amount", "-3"),
            ({**xrp, "amount": "1.0000001"}, "invalid_amount", "6 decimals"),
            ({**xrp, "amount": "0"}, "invalid_amount", "more than zero"),
            (xrp, "invalid_amount", "amount"),
        ]
        for body, error, text in cases:
            got_status, answer = await post(http, url, body)
            assert (got_status, answer["error"]) == (400, error), body
            assert text in answer["message"], answer
        async with http.post(url, data=b"{nope") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_request"
        # an account someone else made, with another secret
        taken = f"{name}-taken"
        async with LedgerClient(ledgers["xrp"].url) as client:
            await client.create_account(taken, "someone-elses-secret")
        status, answer = await post(http, url, {"ledger": "xrp", "account": taken, "amount": "1"})
        assert status == 409
        assert answer["error"] == "account_exists"
        assert "secret" in answer["message"]
        # ...which works once its secret is typed in
        status, answer = await post(
            http,
            url,
            {"ledger": "xrp", "account": taken, "amount": "1", "secret": "someone-elses-secret"},
        )
        assert status == 200
        assert answer["balance"] == "1000000"


async def test_send_form_pays_on_ledger_and_the_payment_is_pushed(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    alice, bob = f"{name}-alice", f"{name}-bob"
    async with dashboard(network_of(ledgers)) as base, events(http, base) as stream:
        await stream.next()
        for who, amount in ((alice, "1"), (bob, "0.5")):
            status, _ = await post(
                http, f"{base}/api/faucet", {"ledger": "eth", "account": who, "amount": amount}
            )
            assert status == 200
        status, answer = await post(
            http,
            f"{base}/api/send",
            {"ledger": "eth", "account": alice, "to_ledger": "eth", "to": bob, "amount": "0.25"},
        )
        assert status == 200, answer
        payment = answer["payment"]
        assert payment["state"] == "fulfilled"
        assert payment["amount"] == payment["delivered"] == "250000000"
        assert payment["fee"] == "2000"
        assert payment["path"] == [f"account:eth/{alice}", "ledger:eth", f"account:eth/{bob}"]
        assert payment["millis"] >= 0
        pushed = await stream.until(
            lambda k, d: k == "payment" and d["payment"]["id"] == payment["id"]
        )
        assert pushed["counts"]["fulfilled"] >= 1
        # both balances move on the graph (alice paid amount + fee, bob got the amount),
        # and the books still balance, the fee burned included
        ledger = await eventually(
            http,
            base,
            ledger_with(
                "eth",
                lambda lg: (
                    balance_is(alice, 10**9 - 250_000_000 - 2000)(lg)
                    and balance_is(bob, 500_000_000 + 250_000_000)(lg)
                    and int(lg["books"]["fees_burned"]) >= 2000
                ),
            ),
        )
        books = picked(ledger, "ledger", "eth")["books"]
        assert books["balanced"] is True
        async with http.get(f"{base}/api/state") as resp:
            state = await resp.json()
        assert state["payments"][0]["id"] == payment["id"]


async def test_a_refused_payment_is_listed_as_rejected(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    alice, bob = f"{name}-alice", f"{name}-bob"
    async with dashboard(network_of(ledgers)) as base:
        for who in (alice, bob):
            await post(http, f"{base}/api/faucet", {"ledger": "xrp", "account": who, "amount": "1"})
        status, answer = await post(
            http,
            f"{base}/api/send",
            {"ledger": "xrp", "account": alice, "to": bob, "amount": "5"},
        )
        assert status == 422
        assert answer["payment"]["state"] == "rejected"
        assert answer["payment"]["error"].startswith("insufficient_funds")
        async with http.get(f"{base}/api/state") as resp:
            state = await resp.json()
        assert state["counts"] == {"fulfilled": 0, "rejected": 1}
        assert state["payments"][0]["state"] == "rejected"
        # to an account that does not exist: rejected too, saying so
        status, answer = await post(
            http,
            f"{base}/api/send",
            {"ledger": "xrp", "account": alice, "to": f"{name}-nobody", "amount": "0.1"},
        )
        assert status == 422
        assert "unknown_account" in answer["payment"]["error"]


async def test_send_form_refuses_what_this_network_cannot_pay(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    async with dashboard(network_of(ledgers)) as base:
        url = f"{base}/api/send"
        base_form = {"ledger": "xrp", "account": f"{name}-a", "amount": "1"}
        cross = {**base_form, "to_ledger": "eth", "to": "bob"}
        status, answer = await post(http, url, cross)
        assert status == 400
        assert answer["error"] == "payment_refused"
        assert "no escrow connector" in answer["message"]
        status, answer = await post(http, url, {**base_form, "to": "$127.0.0.1:1/bob"})
        assert status == 400
        assert "payment pointer" in answer["message"]
        status, answer = await post(http, url, {**base_form, "to": f"{name}-a"})
        assert status == 400
        assert "same account" in answer["message"]
        status, answer = await post(http, url, {**base_form, "to": ""})
        assert status == 400
        assert answer["error"] == "invalid_request"
        async with http.get(f"{base}/api/state") as resp:
            assert (await resp.json())["payments"] == []


async def test_transfers_seen_in_ledger_notifications_appear_as_payments(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    carol, dave = f"{name}-carol", f"{name}-dave"
    secret = "carols-own-secret"
    async with dashboard(network_of(ledgers)) as base, events(http, base) as stream:
        await stream.next()
        await post(
            http,
            f"{base}/api/faucet",
            {"ledger": "xrp", "account": carol, "amount": "3", "secret": secret},
        )
        async with LedgerClient(ledgers["xrp"].url) as client:
            await client.create_account(dave, "daves-own-secret")
            # a transfer the dashboard did not make: it learns of it from carol's notifications
            await client.as_account(carol, secret).transfer(dave, 1_000_000, request_id="t-" + name)
        pushed = await stream.until(
            lambda k, d: k == "payment" and d["payment"]["id"] == "t-" + name
        )
        assert pushed["payment"]["origin"] == "ledger"
        assert pushed["payment"]["source_account"] == carol
        assert pushed["payment"]["destination"] == dave
        await eventually(http, base, ledger_with("xrp", balance_is(carol, 2_000_000)))


async def test_a_ledger_that_goes_down_is_shown_down_then_up(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    server = await start_ledger_async(tmp_path, name="test.xrp", asset="XRP", scale=6)
    try:
        async with dashboard(network_of({"xrp": server})) as base, events(http, base) as stream:
            await stream.until(ledger_with("xrp", lambda lg: lg["healthy"] is True))
            server.kill()
            down = await stream.until(ledger_with("xrp", lambda lg: lg["healthy"] is False))
            assert picked(down, "ledger", "xrp")["error"]
            await asyncio.to_thread(server.restart)
            await stream.until(ledger_with("xrp", lambda lg: lg["healthy"] is True))
    finally:
        server.stop()


async def test_every_page_gets_the_same_picture(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    alice, bob = f"{name}-alice", f"{name}-bob"
    async with dashboard(network_of(ledgers)) as base:
        async with events(http, base) as first, events(http, base) as second:
            await first.next()
            await second.next()
            for who in (alice, bob):
                await post(
                    http, f"{base}/api/faucet", {"ledger": "xrp", "account": who, "amount": "2"}
                )
            form = {"ledger": "xrp", "account": alice, "to": bob, "amount": "1"}
            _, answer = await post(http, f"{base}/api/send", form)
            pid = answer["payment"]["id"]
            for stream in (first, second):
                await stream.until(lambda k, d: k == "payment" and d["payment"]["id"] == pid)
            async with http.get(f"{base}/health") as resp:
                assert (await resp.json())["pages"] == 2
        # a page opened later gets the payment in its snapshot
        async with events(http, base) as late:
            kind, snap = await late.next()
            assert kind == "snapshot"
            assert [p["id"] for p in snap["state"]["payments"]] == [pid]


async def test_a_connector_whose_admin_api_is_down_is_shown_unreachable(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    connectors = {
        "alice": {"address": "test.alice", "admin_url": closed, "ledgers": ["xrp", "eth"]}
    }
    network = network_of(ledgers, connectors=connectors)
    async with dashboard(network) as base, events(http, base) as stream:
        down = await stream.until(connector_with("alice", lambda c: c["reachable"] is False))
        alice = picked(down, "connector", "alice")
        assert alice["ledgers"] == ["xrp", "eth"]
        assert "admin_token" not in alice
        assert "/status" in alice["error"]


async def test_escrow_payments_seen_on_the_ledger_are_listed_fulfilled_or_rolled_back(
    ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession, name: str
) -> None:
    payer, payee = f"{name}-conn", f"{name}-recv"
    wallet = Wallet(b"e" * 32)
    network = network_of(ledgers)
    async with dashboard(network, wallet=wallet) as base, events(http, base) as stream:
        await stream.next()
        for who in (payer, payee):
            status, _ = await post(
                http, f"{base}/api/faucet", {"ledger": "xrp", "account": who, "amount": "1"}
            )
            assert status == 200
        preimage, condition = hashlock()
        soon = SystemClock().now() + timedelta(seconds=30)
        async with LedgerClient(
            ledgers["xrp"].url, payer, wallet.derived_secret("xrp", payer)
        ) as me:
            paid = await me.create_escrow(payee, 250_000, condition, soon)
            late = await me.create_escrow(
                payee, 100_000, hashlock()[1], SystemClock().now() + timedelta(milliseconds=300)
            )
        payee_secret = wallet.derived_secret("xrp", payee)
        async with LedgerClient(ledgers["xrp"].url, payee, payee_secret) as them:
            await them.fulfil_escrow(paid.id, preimage)
        done = await stream.until(lambda k, d: k == "payment" and d["payment"]["id"] == paid.id)
        assert done["payment"]["kind"] == "escrow"
        assert done["payment"]["state"] == "fulfilled"
        assert done["payment"]["delivered"] == "250000"
        assert done["payment"]["destination"] == payee
        expired = await stream.until(lambda k, d: k == "payment" and d["payment"]["id"] == late.id)
        assert expired["payment"]["state"] == "rejected"
        assert "rolled back" in expired["payment"]["error"]
        await eventually(http, base, ledger_with("xrp", balance_is(payee, 1_250_000)))
