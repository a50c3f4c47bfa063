"""`ilpnet connector run` with `ledger-escrow` accounts: a connector process that holds
accounts on real ledger processes, so senders pay from their ledger accounts and receivers
are paid on theirs; alone, and behind a BTP peer (two hops, two processes)."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ilpnet.app.escrow_receiver import EscrowReceiver
from ilpnet.app.escrow_sender import (
    PaymentError,
    PaymentFailed,
    Receipt,
    pay_from_ledger,
    quote_payment,
)
from ilpnet.connector.config import ConfigError
from ilpnet.connector.escrow_ledgers import LedgerAccountConfig
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EscrowState
from ilpnet.node.connector_process import parse_node_config
from tests.app.escrow.test_escrow_payment import receiver_on
from tests.links.escrow_net import (
    Ledgers,
    all_books,
    escrow_ends,
    escrow_payment,
    fresh,
    hashlock,
    incoming_escrow,
    ledgers,
    new_account,
    open_account,
    secret_of,
)
from tests.node.connectors import ConnectorProcess

__all__ = ["ledgers"]

XRP, ETH, USD = 10**6, 10**9, 10**2


def ledger_account(
    ledgers: Ledgers, ledger: str, account: str, fund: int, **more: Any
) -> dict[str, Any]:
    code, scale = {"test.xrp": ("XRP", 6), "test.eth": ("ETH", 9), "test.usd": ("USD", 2)}[ledger]
    return {
        "relation": "peer",
        "asset_code": code,
        "asset_scale": scale,
        "link": {
            "kind": "ledger-escrow",
            "url": ledgers.url(ledger),
            "account": account,
            "secret": secret_of(account),
            "fund": fund,
            **more,
        },
    }


def escrow_connector(
    ledgers: Ledgers, directory: Path, name: str, on: dict[str, int], **more: Any
) -> ConnectorProcess:
    """A connector process with an account (funded with `on[ledger]`) on each ledger."""
    me = fresh(name)
    accounts = {
        ledger.removeprefix("test."): ledger_account(ledgers, ledger, me, fund)
        for ledger, fund in on.items()
    }
    accounts.update(more.pop("accounts", {}))
    return ConnectorProcess(
        name,
        {
            "address": f"test.{name}",
            "store": f"sqlite:///{directory / f'{name}.sqlite3'}",
            "spread": "0.002",
            "liquidity": {"XRP": "1000000", "ETH": "500", "USD": "2000000"},
            "expiry": {"min_message_window_ms": 2000},
            "escrow_margin_ms": 500,
            "accounts": accounts,
            **more,
        },
        directory,
    )


def public_url(node: ConnectorProcess) -> str:
    return f"http://127.0.0.1:{node.btp_port}"


async def pay_xrp(
    ledgers: Ledgers,
    alice: str,
    via: ConnectorProcess,
    receiver: EscrowReceiver,
    amount: int,
    **options: Any,
) -> Receipt:
    """`alice` (on the XRP ledger) pays `receiver` through the connector `via`."""
    return await pay_from_ledger(
        ledgers.url("test.xrp"),
        alice,
        secret_of(alice),
        public_url(via),
        receiver.address,
        amount,
        receive_key=receiver.receive_key,
        **options,
    )


async def balance(ledgers: Ledgers, ledger: str, account: str) -> int:
    async with LedgerClient(ledgers.url(ledger), account, secret_of(account)) as me:
        return await me.balance()


async def test_a_sender_on_one_ledger_pays_a_receiver_on_another(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    node = escrow_connector(ledgers, tmp_path, "solo", {"test.xrp": 500 * XRP, "test.usd": 5000})
    await node.start()
    try:
        health = await node.wait_healthy(("xrp", "usd"))
        assert health["links"] == {"xrp": True, "usd": True}
        me = node.config["accounts"]["xrp"]["link"]["account"]
        assert await balance(ledgers, "test.xrp", me) == 500 * XRP  # funded by its config
        alice, bob = fresh("alice"), fresh("bob")
        await new_account(ledgers.url("test.xrp"), alice, 100 * XRP)
        async with receiver_on(ledgers, "test.usd", bob) as receiver:
            receipt = await pay_xrp(ledgers, alice, node, receiver, 5 * XRP, deposit=XRP)
            got = await asyncio.wait_for(receiver.wait_received(1), 10)
        assert receipt.destination_asset == "USD"
        assert receipt.delivered == got[0].amount > 0
        assert await balance(ledgers, "test.usd", bob) == receipt.delivered
        assert await balance(ledgers, "test.xrp", alice) == 100 * XRP - XRP - 5 * XRP - 2 * 10
        # the connector's own books: it was paid on XRP and paid out on USD
        books = await node.books()
        assert books["xrp"][0] == 5 * XRP
        assert books["usd"][0] == -receipt.delivered
        for name, b in (await all_books(ledgers)).items():
            assert b.balanced, name
    finally:
        await node.stop()


async def test_state_survives_a_restart_and_is_not_funded_twice(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    node = escrow_connector(ledgers, tmp_path, "again", {"test.xrp": 7 * XRP, "test.usd": 2000})
    await node.start()
    await node.wait_healthy(("xrp", "usd"))
    alice, bob = fresh("alice"), fresh("bob")
    await new_account(ledgers.url("test.xrp"), alice, 50 * XRP)
    try:
        async with receiver_on(ledgers, "test.usd", bob) as receiver:
            first = await pay_xrp(ledgers, alice, node, receiver, 2 * XRP, deposit=XRP)
            await node.stop()
            await node.start()
            await node.wait_healthy(("xrp", "usd"))
            me = node.config["accounts"]["usd"]["link"]["account"]
            assert await balance(ledgers, "test.usd", me) == 2000 - first.delivered - 1  # fee 1
            # the deposit paid before the restart still counts
            second = await pay_xrp(ledgers, alice, node, receiver, 2 * XRP)
            await asyncio.wait_for(receiver.wait_received(2), 10)
        assert await balance(ledgers, "test.usd", bob) == first.delivered + second.delivered
    finally:
        await node.stop()


async def test_two_hops_from_a_ledger_over_btp_to_another_ledger(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    """alice (XRP ledger) -> west (XRP ledger + ETH peer) -BTP-> east (ETH peer + USD ledger)
    -> bob (USD ledger): money leaves one ledger and lands on another, two processes apart."""
    east = escrow_connector(
        ledgers,
        tmp_path,
        "east",
        {"test.usd": 5000},
        accounts={
            "west": {
                "relation": "peer",
                "asset_code": "ETH",
                "asset_scale": 9,
                "minimum": -100 * ETH,
                "maximum": 100 * ETH,
                "link": {"kind": "btp-server", "token": "west-east"},
            }
        },
        routes=[{"prefix": "test.xrp", "account": "west"}],
    )
    west = escrow_connector(
        ledgers,
        tmp_path,
        "west",
        {"test.xrp": 500 * XRP},
        accounts={
            "east": {
                "relation": "peer",
                "asset_code": "ETH",
                "asset_scale": 9,
                "minimum": -100 * ETH,
                "maximum": 100 * ETH,
                "link": {
                    "kind": "btp-client",
                    "url": east.btp_url,
                    "token": "west-east",
                    "username": "west",
                    "public_url": public_url(east),
                },
            }
        },
        routes=[{"prefix": "test.usd", "account": "east"}],
    )
    await east.start()
    await west.start()
    try:
        await east.wait_healthy(("usd",))
        await west.wait_healthy(("xrp", "east"))
        alice, bob = fresh("alice"), fresh("bob")
        await new_account(ledgers.url("test.xrp"), alice, 100 * XRP)
        async with receiver_on(ledgers, "test.usd", bob) as receiver:
            quote = await quote_payment(
                public_url(west), "test.xrp", receiver.address, 5 * XRP, deliver=False
            )
            assert (quote.destination_asset, quote.destination_scale) == ("USD", 2)
            receipt = await pay_xrp(ledgers, alice, west, receiver, 5 * XRP, deposit=XRP)
            got = await asyncio.wait_for(receiver.wait_received(1), 10)
            bob_address = receiver.address
        delivered = got[0].amount
        # 5 XRP at ~2000 XRP/ETH and ~4000 USD/ETH: about 10 USD, both spreads taken
        assert 9 * USD <= delivered <= quote.destination_amount <= 10 * USD
        assert not receipt.delivered_exact  # the last escrow was east's, not west's
        assert receipt.delivered == quote.destination_amount  # nothing moved the pools
        assert await balance(ledgers, "test.usd", bob) == delivered
        west_books, east_books = await west.books(), await east.books()
        assert west_books["xrp"][0] == 5 * XRP
        assert west_books["east"][0] == -east_books["west"][0] < 0  # the trustline agrees
        assert east_books["usd"][0] == -delivered
        for name, b in (await all_books(ledgers)).items():
            assert b.balanced, name
        # the far connector's refusal keeps its code; a peer API that is gone is T01
        with pytest.raises(PaymentError, match=r"^F02: destination is not on ledger test\.usd"):
            await quote_payment(public_url(west), "test.xrp", "test.usd", XRP, deliver=False)
        await east.stop()
        with pytest.raises(PaymentError, match=r"^T01: cannot quote through peer east"):
            await quote_payment(public_url(west), "test.xrp", bob_address, XRP, deliver=False)
    finally:
        await west.stop()
        await east.stop()


async def test_a_payment_the_far_side_refuses_rolls_back(ledgers: Ledgers, tmp_path: Path) -> None:
    node = escrow_connector(ledgers, tmp_path, "poor", {"test.xrp": 50 * XRP, "test.usd": 0})
    await node.start()
    try:
        await node.wait_healthy(("xrp", "usd"))
        alice, bob = fresh("alice"), fresh("bob")
        await new_account(ledgers.url("test.xrp"), alice, 100 * XRP)
        async with receiver_on(ledgers, "test.usd", bob) as receiver:
            refused = r"T04 ledger refused the escrow: account \S+ has 0"
            with pytest.raises(PaymentFailed, match=refused):
                await pay_xrp(
                    ledgers,
                    alice,
                    node,
                    receiver,
                    5 * XRP,
                    deposit=XRP,
                    wait_rollback=True,
                    expiry=timedelta(seconds=6),
                )
        assert await balance(ledgers, "test.usd", bob) == 0
        for name, b in (await all_books(ledgers)).items():
            assert b.balanced, name
    finally:
        await node.stop()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"relation": "child"}, "accounts.xrp.relation: an account on a ledger is a 'peer'"),
        ({"asset_code": "ETH"}, "accounts.xrp: ledger test.xrp is in XRP scale 6, not ETH"),
        ({"link_url": "ftp://x"}, "accounts.xrp.link.url: must be the ledger's http://"),
        ({"link_secret": "wrong-secret"}, "refused the connector's account"),
        (
            {"link_url": "http://127.0.0.1:9"},
            "accounts.xrp: ledger http://127.0.0.1:9 not reachable",
        ),
    ],
)
async def test_a_bad_ledger_account_is_refused_in_one_line(
    ledgers: Ledgers, tmp_path: Path, change: dict[str, str], message: str
) -> None:
    node = escrow_connector(ledgers, tmp_path, "bad", {"test.xrp": 0})
    account = node.config["accounts"]["xrp"]
    await new_account(ledgers.url("test.xrp"), account["link"]["account"])
    for key, value in change.items():
        if key.startswith("link_"):
            account["link"][key.removeprefix("link_")] = value
        else:
            account[key] = value
    await node.start()
    assert node.process is not None
    assert await asyncio.wait_for(node.process.wait(), 20) != 0
    text = node.log_path.read_text()
    assert message in text
    assert "Traceback" not in text


async def test_the_public_api_answers_on_the_listener(ledgers: Ledgers, tmp_path: Path) -> None:
    node = escrow_connector(ledgers, tmp_path, "api", {"test.xrp": 0, "test.usd": 0})
    await node.start()
    try:
        await node.wait_healthy(("xrp", "usd"))
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{public_url(node)}/ledgers") as resp,
        ):
            body = await resp.json()
        assert body["address"] == "test.api"
        assert {lg["name"] for lg in body["ledgers"]} == {"test.xrp", "test.usd"}
    finally:
        await node.stop()


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("process tests run on Linux")


async def test_killed_with_a_payment_open_it_finishes_the_payment_after_restart(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    """SIGKILL after the connector escrowed to the receiver; the receiver fulfils while it
    is down; the restarted connector learns the preimage from the ledger and collects the
    sender's escrow: both escrows fulfilled, every book balanced."""
    node = escrow_connector(ledgers, tmp_path, "crash", {"test.xrp": 0, "test.usd": 5000})
    await node.start()
    await node.wait_healthy(("xrp", "usd"))
    me = node.config["accounts"]["xrp"]["link"]["account"]
    alice, bob = fresh("alice"), fresh("bob")
    try:
        async with (
            await open_account(ledgers.url("test.xrp"), alice, 100 * XRP) as sender,
            await open_account(ledgers.url("test.usd"), bob) as receiver,
        ):
            await sender.transfer(me, XRP)  # the deposit a roll-back would be charged from
            preimage, condition = hashlock()
            paid = await escrow_payment(
                sender, me, 5 * XRP, f"test.usd.{bob}", condition, seconds=30
            )
            offered = await incoming_escrow(receiver)
            node.kill()
            assert await node.wait_exit() == -9
            await receiver.fulfil_escrow(offered.id, preimage)
            await node.start()
            await node.wait_healthy(("xrp", "usd"))
            ended = await escrow_ends(sender, paid.id)
        assert ended.state is EscrowState.FULFILLED
        assert await balance(ledgers, "test.usd", bob) == offered.amount > 0
        books = await node.books()
        assert books["xrp"] == (5 * XRP, 0, 0)
        assert books["usd"] == (-offered.amount, 0, 0)
        assert await node.in_flight() == 0
        for name, b in (await all_books(ledgers)).items():
            assert b.balanced, name
    finally:
        await node.stop()


LEDGER_LINK = (
    'link = { kind = "ledger-escrow", url = "http://127.0.0.1:7700", account = "me", '
    'secret = "s3cret" }'
)


@pytest.mark.parametrize(
    ("extra", "account", "fragment"),
    [
        ('store = "redis://127.0.0.1:6379/0"\n', "", "escrow_state: needed with a redis store"),
        (
            "",
            'settlement = { ledger = "http://127.0.0.1:7700", account = "me", secret = "x", '
            'peer_account = "you" }\n',
            "accounts.xrp.settlement: needs a BTP `link`",
        ),
        ("", "", ""),
    ],
)
def test_ledger_escrow_config_is_checked_before_anything_starts(
    extra: str, account: str, fragment: str
) -> None:
    text = (
        f'address = "test.me"\n{extra}[accounts.xrp]\nrelation = "peer"\nasset_code = "XRP"\n'
        f"asset_scale = 6\n{LEDGER_LINK}\n{account}"
    )
    if not fragment:
        config = parse_node_config(text)
        assert config.ledger_accounts() == [
            LedgerAccountConfig("xrp", "http://127.0.0.1:7700", "me", "s3cret", 0)
        ]
        assert config.escrow_state_dir() == Path("connector.db.escrow")
        return
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        parse_node_config(text)


def test_a_peer_public_url_must_be_http() -> None:
    text = (
        'address = "test.me"\n[accounts.b]\nrelation = "peer"\nasset_code = "XRP"\n'
        'asset_scale = 6\nlink = { kind = "btp-server", token = "t", public_url = "ws://x" }\n'
    )
    with pytest.raises(ConfigError, match=r"accounts\.b\.link\.public_url: must be http://"):
        parse_node_config(text)


async def test_a_routing_loop_between_peers_ends_the_quote_with_f02(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    """ping routes test.loop to pong and pong back to ping: the onward quotes stop after
    MAX_HOPS connectors instead of calling each other forever."""
    peer = {"relation": "peer", "asset_code": "ETH", "asset_scale": 9}
    pong = escrow_connector(ledgers, tmp_path, "pong", {"test.eth": 0})
    ping = escrow_connector(ledgers, tmp_path, "ping", {"test.xrp": 0})
    pong.config["accounts"]["ping"] = {
        **peer,
        "link": {"kind": "btp-server", "token": "ping-pong", "public_url": public_url(ping)},
    }
    pong.config["routes"] = [{"prefix": "test.loop", "account": "ping"}]
    ping.config["accounts"]["pong"] = {
        **peer,
        "link": {
            "kind": "btp-client",
            "url": pong.btp_url,
            "token": "ping-pong",
            "username": "ping",
            "public_url": public_url(pong),
        },
    }
    ping.config["routes"] = [{"prefix": "test.loop", "account": "pong"}]
    await pong.start()
    await ping.start()
    try:
        await ping.wait_healthy(("xrp", "pong"))
        with pytest.raises(PaymentError, match=r"^F02: quote crosses more than 8 connectors"):
            await quote_payment(public_url(ping), "test.xrp", "test.loop.x", XRP, deliver=False)
    finally:
        await ping.stop()
        await pong.stop()
