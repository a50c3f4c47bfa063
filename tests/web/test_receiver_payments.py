"""STREAM payments to a test receiver show up on the dashboard.

Real parts only: three `ilpnet connector run` processes in a line (USD → EUR → XRP,
`tests/node/connectors.py`, C pays 2 XRP per EUR), a real `ilpnet receive` subprocess as
C's child, the real XRP ledger process, and the dashboard on a real port reading the
receiver's `/health`. The payer is the real sender library (`ilpnet.app.sender.pay`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from ilpnet.app.sender import SendRequest, pay
from ilpnet.app.stream.errors import PaymentReceipt
from ilpnet.web.network_view import NetworkView
from tests.ledger.servers import LedgerProcess
from tests.node.connectors import ADMIN_TOKEN, ConnectorProcess, line_configs, start_line
from tests.redis_server import free_port
from tests.web.live import Json, events, network_of, serving
from tests.web.live import dashboard as running_dashboard

pytestmark = pytest.mark.asyncio(loop_scope="module")

START_WAIT_S = 30.0
"""Bound on the receiver printing its pointer (processes start slowly on a busy machine)."""
CHROMIUM = Path("/usr/bin/chromium")
SEEN_WAIT_S = 10.0
"""Bound on a payment reaching the dashboard (it polls every 0.2 s in these tests)."""


@dataclass
class Net:
    a: ConnectorProcess
    b: ConnectorProcess
    c: ConnectorProcess


@dataclass
class ReceiveProcess:
    """`ilpnet receive` as C's child, with the pointer and health URL it printed."""

    process: asyncio.subprocess.Process
    out: list[str] = field(default_factory=list)

    async def line(self, pattern: str) -> str:
        assert self.process.stdout is not None

        async def scan() -> str:
            assert self.process.stdout is not None
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError("ilpnet receive exited:\n" + "\n".join(self.out))
                text = raw.decode().rstrip("\n")
                self.out.append(text)
                match = re.match(pattern, text)
                if match:
                    return match.group(1)

        return await asyncio.wait_for(scan(), START_WAIT_S)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Net]:
    directory = tmp_path_factory.mktemp("receiver-payments")
    stores = {n: f"sqlite:///{directory}/{n}.db" for n in "abc"}
    a, b, c = line_configs(
        directory,
        stores,
        {
            "a": {"liquidity": {"USD": "100000000", "EUR": "90000000"}},
            "a.sender": {"maximum": 10**12},
            "c": {"fixed_rates": {"EUR/XRP": "2"}},
            "c.b": {"maximum": 10**15},
            "c.receiver": {"asset_code": "XRP", "asset_scale": 6},
        },
    )
    try:
        await start_line(a, b, c)
        yield Net(a, b, c)
    finally:
        await asyncio.gather(a.stop(), b.stop(), c.stop())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver(net: Net) -> AsyncIterator[tuple[str, str]]:
    """(pointer, health URL) of a running `ilpnet receive`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ilpnet.cli.main",
        "receive",
        "--connector",
        net.c.btp_url,
        "--token",
        "receiver-secret",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    cli = ReceiveProcess(process)
    drain: asyncio.Task[bytes] | None = None
    try:
        pointer = await cli.line(r"^payment pointer: (\$\S+)$")
        health = await cli.line(r"^health: (\S+)$")
        assert process.stdout is not None
        drain = asyncio.ensure_future(process.stdout.read())  # keep its pipe from filling
        yield pointer, health
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            await asyncio.wait_for(drain, 5)


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The conftest's session, on this module's event loop."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield session


def network(ledgers: dict[str, LedgerProcess], net: Net, *receivers: Json) -> NetworkView:
    connector = {
        "address": "test.c",
        "admin_url": net.c.admin_url,
        "admin_token": ADMIN_TOKEN,
        "btp_url": net.c.btp_url,
        "ledgers": ["xrp"],
    }
    return network_of(
        {"xrp": ledgers["xrp"]}, connectors={"c": connector}, receivers=list(receivers)
    )


def entry(pointer: str, health: str) -> Json:
    """A receivers entry as `ilpnet up` writes it to network.json."""
    return {"ledger": "xrp", "pointer": pointer, "connector": "c", "health": health}


async def pay_usd_cents(net: Net, pointer: str, cents: int) -> PaymentReceipt:
    request = SendRequest(
        pointer, cents, connector=net.a.btp_url, token="sender-secret", insecure_http=True
    )
    receipt = await asyncio.wait_for(pay(request), 30)
    assert receipt.complete, receipt
    assert receipt.delivered > 0, receipt
    # one packet: no poll of the receiver can fall between two parts of this payment
    assert receipt.packets == 1, receipt
    return receipt


async def snapshot(http: aiohttp.ClientSession, base: str) -> Json:
    async with events(http, base) as stream:
        state: Json = (await stream.until(lambda kind, _: kind == "snapshot"))["state"]
        return state


async def receiver_state(
    http: aiohttp.ClientSession, base: str, pointer: str, reachable: bool
) -> Json:
    """The receiver's entry once the dashboard has read (or failed to read) it."""

    def match(kind: str, d: Json) -> bool:
        if kind == "snapshot":
            found = [r for r in d["state"]["receivers"] if r["pointer"] == pointer]
            return bool(found) and found[0]["reachable"] is reachable
        return (
            kind == "receiver"
            and d["pointer"] == pointer
            and d["receiver"]["reachable"] is (reachable)
        )

    async with events(http, base) as stream:
        data = await stream.until(match, SEEN_WAIT_S)
    if "state" in data:
        entry: Json = next(r for r in data["state"]["receivers"] if r["pointer"] == pointer)
        return entry
    found: Json = data["receiver"]
    return found


def to(pointer: str, payments: list[Json]) -> list[Json]:
    return [p for p in payments if p["destination"] == pointer]


async def test_stream_payments_to_a_test_receiver_are_listed_with_what_was_delivered(
    ledgers: dict[str, LedgerProcess],
    net: Net,
    receiver: tuple[str, str],
    http: aiohttp.ClientSession,
) -> None:
    pointer, health = receiver
    before = await pay_usd_cents(net, pointer, 300)  # received before the dashboard watched
    async with running_dashboard(network(ledgers, net, entry(pointer, health))) as base:
        seen = await receiver_state(http, base, pointer, reachable=True)
        assert seen["received"] == str(before.delivered)
        assert seen["asset"] == {"code": "XRP", "scale": 6}
        assert seen["health"] == health
        assert to(pointer, (await snapshot(http, base))["payments"]) == []  # only a baseline

        rows: list[Json] = []
        async with events(http, base) as stream:
            for cents in (500, 250):
                receipt = await pay_usd_cents(net, pointer, cents)
                delta = await stream.until(
                    lambda kind, d: kind == "payment" and d["payment"]["destination"] == pointer,
                    SEEN_WAIT_S,
                )
                row = delta["payment"]
                assert row["delivered"] == row["amount"] == str(receipt.delivered)
                assert row["state"] == "fulfilled"
                assert (row["source_ledger"], row["destination_ledger"]) == ("xrp", "xrp")
                assert row["path"] == ["connector:c", "ledger:xrp"]
                assert row["origin"] == "receiver"
                rows.append(row)

        assert rows[0]["id"] != rows[1]["id"]
        listed = to(pointer, (await snapshot(http, base))["payments"])
        assert [p["id"] for p in listed] == [rows[1]["id"], rows[0]["id"]]  # newest first
        total = before.delivered + sum(int(r["delivered"]) for r in rows)
        assert (await receiver_state(http, base, pointer, reachable=True))["received"] == str(total)
        page = await http.get(base + "/")
        assert page.status == 200


async def nonsense_health() -> web.Application:
    async def answer(_: web.Request) -> web.Response:
        return web.Response(text="<html>not a receiver</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/health", answer)
    return app


async def test_a_receiver_that_is_down_or_answers_nonsense_does_not_break_the_page(
    ledgers: dict[str, LedgerProcess],
    net: Net,
    receiver: tuple[str, str],
    http: aiohttp.ClientSession,
) -> None:
    pointer, health = receiver
    down = f"$127.0.0.1:{free_port()}"
    down_health = f"http://127.0.0.1:{free_port()}/health"
    async with serving(await nonsense_health()) as odd_base:
        odd = "$" + odd_base.removeprefix("http://")
        view = network(
            ledgers,
            net,
            entry(down, down_health),
            entry(odd, f"{odd_base}/health"),
            entry(pointer, health),
        )
        async with running_dashboard(view) as base:
            assert (await receiver_state(http, base, down, reachable=False))["error"]
            assert (await receiver_state(http, base, odd, reachable=False))["error"]
            await receiver_state(http, base, pointer, reachable=True)

            page = await http.get(base + "/")
            assert page.status == 200
            async with events(http, base) as stream:
                receipt = await pay_usd_cents(net, pointer, 100)
                delta = await stream.until(
                    lambda kind, d: kind == "payment" and d["payment"]["destination"] == pointer,
                    SEEN_WAIT_S,
                )
            assert delta["payment"]["delivered"] == str(receipt.delivered)
            payments = (await snapshot(http, base))["payments"]
            assert to(down, payments) == to(odd, payments) == []


@pytest.mark.skipif(
    not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None,
    reason="needs Debian's Chromium at /usr/bin/chromium and Playwright "
    "(`.ci/install-browser`, pip install -e '.[dev]'); see tests/web/test_browser.py",
)
async def test_in_a_browser_the_payment_appears_in_the_list_without_a_reload(
    ledgers: dict[str, LedgerProcess],
    net: Net,
    receiver: tuple[str, str],
    http: aiohttp.ClientSession,
) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.web.test_browser import CHROMIUM_ARGS, TIMEOUT_MS

    pointer, health = receiver
    async with (
        running_dashboard(network(ledgers, net, entry(pointer, health))) as base,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/")
            await expect(page.locator("#live")).to_have_text("live")
            await receiver_state(http, base, pointer, reachable=True)

            receipt = await pay_usd_cents(net, pointer, 400)
            whole, frac = divmod(receipt.delivered, 10**6)
            shown = f"{whole:,}.{frac:06d}".rstrip("0").rstrip(".") + " XRP"
            row = page.locator("#payments tbody tr").first
            await expect(row).to_contain_text("ILP sender")
            await expect(row).to_contain_text(pointer)
            await expect(row).to_contain_text(shown)
            await expect(row).to_contain_text("fulfilled")
            await expect(row).to_contain_text("test.xrp")  # the path: connector c → the ledger
            assert errors == []
        finally:
            await browser.close()
