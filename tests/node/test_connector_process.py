"""Three `ilpnet connector run` processes in a line over BTP, A–B–C, carry payments from a
child of A to a child of C across USD, EUR and JPY; balances, rates, limits, expiry
shortening and the reject paths are read back from the processes' admin APIs."""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
import pytest_asyncio

from ilpnet.links.ildcp import fetch_config
from ilpnet.wire.packet import AmountTooLargeData, Fulfill, Prepare, Reject
from tests.node.connectors import Line, running_line

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def line(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Line]:
    directory = tmp_path_factory.mktemp("line")
    stores = {n: f"sqlite:///{directory}/{n}.db" for n in "abc"}
    async with running_line(directory, stores) as found:
        yield found


def now() -> datetime:
    return datetime.now(UTC)


def prepare(line: Line, amount: int, destination: str = "test.c.receiver", **kw: float) -> Prepare:
    condition = line.receiver.expect(os.urandom(32))
    expires = now() + timedelta(seconds=kw.get("seconds", 30))
    return Prepare(amount, expires, condition, destination)


async def books(line: Line) -> dict[str, dict[str, tuple[int, int, int]]]:
    a, b, c = await asyncio.gather(*(n.books() for n in line.nodes))
    return {"a": a, "b": b, "c": c}


def a_out(usd_in: int, sender_balance: int, b_balance: int) -> int:
    """A's constant-product price, written out independently of ilpnet.connector.rates."""
    held_usd = 1000 + Fraction(sender_balance, 100)
    held_eur = 900 + Fraction(b_balance, 10**6)
    x = Fraction(usd_in, 100) * (1 - Fraction(2, 1000))
    return math.floor(10**6 * held_eur * x / (held_usd + x))


async def test_children_learn_their_addresses_with_ildcp(line: Line) -> None:
    sender = await fetch_config(line.sender)
    receiver = await fetch_config(line.receiver_link)
    assert (sender.client_address, sender.asset_code, sender.asset_scale) == (
        "test.a.sender",
        "USD",
        2,
    )
    assert (receiver.client_address, receiver.asset_code, receiver.asset_scale) == (
        "test.c.receiver",
        "JPY",
        0,
    )


async def test_payment_crosses_three_assets_and_books_agree(line: Line) -> None:
    before = await books(line)
    sender_before, b_before = before["a"]["sender"][0], before["a"]["b"][0]
    expected_eur = a_out(250, sender_before, b_before)
    packet = prepare(line, 250)  # 2.50 USD

    answer = await line.sender.send(packet)

    assert isinstance(answer, Fulfill), answer
    got = line.receiver.fulfilled[-1]
    assert got.execution_condition == packet.execution_condition
    assert got.amount == expected_eur * 160 // 10**6  # C: 160 JPY per EUR, rounded down
    after = await books(line)
    delta = {
        f"{node}.{acct}": after[node][acct][0] - before[node][acct][0]
        for node in after
        for acct in after[node]
    }
    assert delta == {
        "a.sender": 250,  # the sender owes A 2.50 USD more
        "a.b": -expected_eur,  # A owes B what it forwarded
        "b.a": expected_eur,  # ...and B agrees
        "b.c": -expected_eur,  # B passes EUR on at 1:1 (spread 0)
        "c.b": expected_eur,
        "c.receiver": -got.amount,  # C owes the receiver the JPY it delivered
    }
    for node in after.values():
        assert all((p_in, p_out) == (0, 0) for _, p_in, p_out in node.values())


async def test_rates_follow_the_connectors_holdings(line: Line) -> None:
    async def usd_to_eur() -> Fraction:
        for rate in await line.a.admin("/rates"):
            if (rate["source"], rate["destination"]) == ("USD/2", "EUR/6"):
                return Fraction(rate["rate"])
        raise AssertionError("no USD/2 -> EUR/6 rate")

    state = await line.a.books()
    held_usd = 1000 + Fraction(state["sender"][0], 100)
    held_eur = 900 + Fraction(state["b"][0], 10**6)
    rate = await usd_to_eur()
    assert rate == held_eur / held_usd * 10**4 * Fraction(998, 1000)

    answer = await line.sender.send(prepare(line, 500))  # selling 5 USD for EUR...
    assert isinstance(answer, Fulfill), answer
    assert await usd_to_eur() < rate  # ...drains the price of USD


async def test_each_hop_shortens_the_expiry_by_its_window(line: Line) -> None:
    packet = prepare(line, 100)
    answer = await line.sender.send(packet)
    assert isinstance(answer, Fulfill), answer
    got = line.receiver.fulfilled[-1]
    assert got.execution_condition == packet.execution_condition
    # A, B and C each keep their 1 s min_message_window (max_hold 30 s is not reached)
    assert got.expires_at == packet.expires_at - timedelta(seconds=3)


@pytest.mark.parametrize(
    ("case", "code", "triggered_by"),
    [
        ("no route", "F02", "test.b"),
        ("too large for B", "F08", "test.b"),
        ("over C's limit for B", "T04", "test.c"),
        ("over A's limit for the sender", "T04", "test.a"),
        ("too little time", "R02", "test.b"),
        ("receiver rejects", "F99", "test.c.receiver"),
        ("wrong fulfillment", "F05", "test.c"),
    ],
)
async def test_reject_paths_leave_every_book_unchanged(
    line: Line, case: str, code: str, triggered_by: str
) -> None:
    packet = {
        "no route": lambda: prepare(line, 100, "test.zzz.bob"),
        # 50 USD is ~42.8 EUR at A: above B's max_packet_amount of 30 EUR for A
        "too large for B": lambda: prepare(line, 5000),
        # 32 USD is ~27.5 EUR: below B's 30 EUR cap, above the 25 EUR credit C gives B
        "over C's limit for B": lambda: prepare(line, 3200),
        # A gives the sender 500 USD of credit
        "over A's limit for the sender": lambda: prepare(line, 60_000),
        # A keeps 1 s and leaves 1.9 s; B would leave 0.9 s, under its 1 s window
        "too little time": lambda: prepare(line, 100, seconds=2.9),
        "receiver rejects": lambda: prepare(line, 100),
        "wrong fulfillment": lambda: prepare(line, 100),
    }[case]()

    async def refuse(p: Prepare) -> Fulfill | Reject:
        return Reject("F99", "test.c.receiver", "no thanks", b"why")

    async def wrong(p: Prepare) -> Fulfill | Reject:
        return Fulfill(bytes(32))

    line.receiver.answer = {"receiver rejects": refuse, "wrong fulfillment": wrong}.get(case)
    before = await books(line)
    try:
        answer = await line.sender.send(packet)
    finally:
        line.receiver.answer = None

    assert isinstance(answer, Reject), answer
    assert (answer.code, answer.triggered_by) == (code, triggered_by), answer
    if code == "F08":
        data = AmountTooLargeData.decode(answer.data)
        assert data.maximum_amount == 30_000_000
        assert data.received_amount > 30_000_000
    if code == "F99":
        assert (answer.message, answer.data) == ("no thanks", b"why")  # relayed unchanged
    assert await books(line) == before
    assert [await n.in_flight() for n in line.nodes] == [0, 0, 0]


async def test_concurrent_payments_keep_the_books_agreeing(line: Line) -> None:
    before = await books(line)
    packets = [prepare(line, 10) for _ in range(60)]
    answers = await asyncio.gather(*(line.sender.send(p) for p in packets))
    assert all(isinstance(a, Fulfill) for a in answers), [
        a for a in answers if isinstance(a, Reject)
    ]
    after = await books(line)
    assert after["a"]["sender"][0] - before["a"]["sender"][0] == 600
    forwarded = before["a"]["b"][0] - after["a"]["b"][0]
    assert forwarded > 0
    assert after["b"]["a"][0] - before["b"]["a"][0] == forwarded
    assert before["b"]["c"][0] - after["b"]["c"][0] == forwarded
    assert after["c"]["b"][0] - before["c"]["b"][0] == forwarded
    delivered = sum(p.amount for p in line.receiver.fulfilled[-60:])
    assert before["c"]["receiver"][0] - after["c"]["receiver"][0] == delivered


async def test_health_and_admin_need_what_they_should(line: Line, tmp_path: Path) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        health = await line.b.health(http)
        assert health is not None
        assert health["address"] == "test.b"
        assert health["links"] == {"a": True, "c": True}
        async with http.get(f"{line.b.admin_url}/accounts") as response:
            assert response.status == 401  # no token


async def test_the_documented_example_line_carries_a_payment(tmp_path: Path) -> None:
    import tomllib

    from ilpnet.links.btp import BtpClientLink
    from tests.node.connectors import ConnectorProcess, Receiver, start_line

    examples = Path(__file__).parents[2] / "examples"
    nodes = []
    for name in "abc":
        config = tomllib.loads((examples / f"connector-{name}.toml").read_text())
        config["store"] = f"sqlite:///{tmp_path}/{name}.db"
        node = ConnectorProcess(name, config, tmp_path)
        config["btp"]["port"] = node.btp_port  # free ports instead of 7801…
        config["admin"]["port"] = node.admin_port
        nodes.append(node)
    a, b, c = nodes
    a.config["accounts"]["b"]["link"]["url"] = b.btp_url
    b.config["accounts"]["c"]["link"]["url"] = c.btp_url
    a.config["admin"]["token"] = b.config["admin"]["token"] = c.config["admin"]["token"] = (
        "admin-token-for-tests"
    )
    sender = BtpClientLink(a.btp_url, "a", token="sender-secret", username="sender")
    receiver_link = BtpClientLink(c.btp_url, "c", token="receiver-secret", username="receiver")
    receiver = Receiver()
    receiver_link.set_handler(receiver.handle)
    try:
        await start_line(a, b, c)
        await sender.start()
        await receiver_link.start()
        await c.wait_healthy(links=("b", "receiver"))
        condition = receiver.expect(os.urandom(32))
        answer = await sender.send(
            Prepare(1000, now() + timedelta(seconds=30), condition, "test.c.receiver")
        )
        assert isinstance(answer, Fulfill), answer
        assert receiver.fulfilled[-1].amount > 0  # 10 USD arrive as JPY
        assert (await a.balances())["sender"] == 1000
        assert (await b.balances())["a"] == -(await a.balances())["b"]
        assert (await c.balances())["b"] == -(await b.balances())["c"]
    finally:
        await sender.close()
        await receiver_link.close()
        await asyncio.gather(a.stop(), b.stop(), c.stop())
