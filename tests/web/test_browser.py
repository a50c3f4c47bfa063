"""The dashboard in a real browser: Debian's Chromium driven by Playwright (no download).

Skips when /usr/bin/chromium is missing: install it with `apt-get install chromium`
(or `.ci/install-browser`, which CI runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ledger.servers import LedgerProcess
from tests.web.live import dashboard, network_of

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's Chromium at /usr/bin/chromium: "
    "run `apt-get install chromium` (or `.ci/install-browser`) to enable them",
)

playwright_api = pytest.importorskip(
    "playwright.async_api",
    reason="browser tests need Playwright: pip install -e '.[dev]'",
)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_a_person_funds_two_accounts_pays_and_watches_it_live(
    ledgers: dict[str, LedgerProcess], browser: object, name: str, tmp_path: Path
) -> None:
    expect = playwright_api.expect
    alice, bob = f"{name}-alice", f"{name}-bob"
    async with dashboard(network_of(ledgers)) as base:
        page = await browser.new_page(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        loads: list[str] = []
        page.on("load", lambda _: loads.append("load"))
        await page.goto(f"{base}/")
        await expect(page.locator("body")).to_have_attribute("data-ready", "true")
        await expect(page.locator("#live")).to_have_text("live")

        # the ledgers are in the graph, with their books
        for key, asset in (("xrp", "XRP"), ("eth", "ETH")):
            node = page.locator(f'[data-node="ledger:{key}"]')
            await expect(node).to_contain_text(asset)
            await expect(node).to_contain_text("books ✓")

        # the faucet form funds two accounts; each appears on the graph with its balance
        faucet = page.locator("#faucet-form")
        await faucet.locator("[name=ledger]").select_option("xrp")
        for who, amount in ((alice, "20"), (bob, "1")):
            await faucet.locator("[name=account]").fill(who)
            await faucet.locator("[name=amount]").fill(amount)
            await faucet.locator("button").click()
            await expect(faucet.locator(".result")).to_have_text(f"{who} now has {amount} XRP")
            node = page.locator(f'[data-node="account:xrp/{who}"]')
            await expect(node).to_contain_text(f"{amount} XRP")

        # the send form pays alice → bob; the payment shows in the list and on the graph
        send = page.locator("#send-form")
        await send.locator("[name=ledger]").select_option("xrp")
        await send.locator("[name=account]").fill(alice)
        await send.locator("[name=to]").fill(bob)
        await send.locator("[name=amount]").fill("2.5")
        await send.locator("button").click()
        await expect(send.locator(".result")).to_contain_text(f"Paid 2.5 XRP to {bob}")
        row = page.locator("#payments tbody tr").first
        await expect(row).to_contain_text(f"{alice}@XRP")
        await expect(row).to_contain_text(f"{bob}@XRP")
        await expect(row).to_contain_text("2.5 XRP")
        await expect(row).to_contain_text("fulfilled")
        await expect(row).to_contain_text("test.xrp")  # the path
        await expect(page.locator('[data-node="account:xrp/' + bob + '"]')).to_contain_text(
            "3.5 XRP"
        )
        await expect(page.locator('[data-node="account:xrp/' + alice + '"]')).to_contain_text(
            "17.5 XRP"
        )
        await expect(page.locator("#stat-pay-ok")).to_have_text("1")

        # a payment that cannot succeed is listed as rejected, with the reason
        await send.locator("[name=amount]").fill("1000")
        await send.locator("button").click()
        await expect(send.locator(".result")).to_contain_text("insufficient_funds")
        await expect(page.locator("#payments tbody tr").first).to_contain_text("rejected")
        await expect(page.locator("#stat-pay-bad")).to_have_text("1")

        # all of it live: the page never reloaded
        assert loads == ["load"]
        assert errors == []
        shot = tmp_path / "dashboard.png"
        await page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # the directory page renders from the same server
        await page.goto(f"{base}/directory")
        await expect(page.locator("h2").first).to_have_text("Connectors")
        await expect(page.locator("body")).to_contain_text("test.eth")
