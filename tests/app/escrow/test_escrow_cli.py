"""The whole payment from the command line, as a user would: `ilpnet ledger faucet`,
`ilpnet escrow-connector`, `ilpnet receive --ledger`, `ilpnet pay`, `ilpnet escrow-deposit`,
each a real process, on three real ledger processes."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from tests.app.escrow.connector_process import ConnectorProcess, start_connector_async
from tests.links.escrow_net import LEDGERS, Ledgers, all_books, fresh, fund_connector, secret_of
from tests.redis_server import free_port

ILPNET = [sys.executable, "-m", "ilpnet.cli.main"]


async def ilpnet(*args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [*ILPNET, *args],
        input=answer,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def read_line_with(proc: asyncio.subprocess.Process, prefix: str) -> str:
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), 20)
        if not raw:
            raise AssertionError(f"process ended before printing {prefix!r}")
        line = raw.decode()
        if line.startswith(prefix):
            return line.strip()


async def test_pay_from_ledger_1_to_ledger_3_from_the_command_line(
    ledgers: Ledgers, tmp_path: Path
) -> None:
    conn, alice, bob = fresh("conn"), fresh("alice"), fresh("bob")
    await fund_connector(ledgers, conn)
    urls = {name.removeprefix("test."): ledgers.url(name) for name, *_ in LEDGERS}
    connector: ConnectorProcess = await start_connector_async(
        tmp_path / "conn", conn, secret_of(conn), urls, extra=("--offledger-ledger", "usd")
    )
    receiver = None
    try:
        faucet = await ilpnet(
            "ledger", "faucet", "--ledger", ledgers.url("test.xrp"),
            "--account", alice, "--secret", secret_of(alice), "--amount", "20000000",
        )  # fmt: skip
        assert faucet.returncode == 0, faucet.stderr
        receiver = await asyncio.create_subprocess_exec(
            *ILPNET, "receive", "--ledger", ledgers.url("test.usd"),
            "--account", bob, "--secret", secret_of(bob), "--port", "0", "--count", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        # the receiver's account must exist before it can watch it
        assert (await read_line_with(receiver, "receiving at ")).endswith(f"test.usd.{bob}")
        invoice_url = (await read_line_with(receiver, "invoices at ")).split()[-1]

        paid = await ilpnet(
            "pay", "--from-ledger", ledgers.url("test.xrp"), "--account", alice,
            "--secret", secret_of(alice), "--connector", connector.url,
            "--to", invoice_url, "--deposit", "1000000", "--yes", "3000000",
        )  # fmt: skip
        assert paid.returncode == 0, paid.stdout + paid.stderr
        assert "quote: send 3000000 XRP" in paid.stdout
        receipt = re.search(
            r"receipt: sent 3\.000000 XRP, delivered (\d+\.\d\d) USD, rate [\d.]+ USD/XRP, "
            r"fees 0\.000010 XRP, time [\d.]+ s",
            paid.stdout,
        )
        assert receipt is not None, paid.stdout
        got = await read_line_with(receiver, "received ")
        cents = int(receipt.group(1).replace(".", ""))
        assert got.startswith(f"received {cents} from {conn}")
        assert await asyncio.wait_for(receiver.wait(), 10) == 0

        shown = await ilpnet(
            "escrow-deposit", "--connector", connector.url, "--ledger", "test.xrp",
            "--account", alice,
        )  # fmt: skip
        assert shown.returncode == 0
        assert "deposited 1000000 charged 0 held 0" in shown.stdout

        # without --yes the quote is shown and the user is asked
        declined = await ilpnet(
            "pay", "--from-ledger", ledgers.url("test.xrp"), "--account", alice,
            "--secret", secret_of(alice), "--connector", connector.url,
            "--to", f"test.usd.{bob}", "--receive-key", "00" * 32, "1000000", answer="n\n",
        )  # fmt: skip
        assert declined.returncode == 1
        assert "quote: send 1000000 XRP" in declined.stdout
        assert "pay? [Y/n]" in declined.stdout
        assert declined.stderr.strip() == "Error: payment cancelled"

        # bad input: one line, exit 1, no money moved
        no_key = await ilpnet(
            "pay", "--from-ledger", ledgers.url("test.xrp"), "--account", alice,
            "--secret", secret_of(alice), "--connector", connector.url,
            "--to", f"test.usd.{bob}", "--yes", "1000",
        )  # fmt: skip
        assert no_key.returncode == 1
        assert no_key.stderr.strip().splitlines() == [
            "Error: paying an ILP address needs the receiver's receive key (--receive-key); "
            "or pay its invoice URL"
        ]
        nowhere = await ilpnet(
            "pay", "--from-ledger", ledgers.url("test.xrp"), "--account", alice,
            "--secret", secret_of(alice), "--connector", connector.url,
            "--to", "test.nowhere.bob", "--receive-key", "00" * 32, "--yes", "1000",
        )  # fmt: skip
        assert nowhere.returncode == 1
        assert nowhere.stderr.startswith("Error: F02: no route for destination")

        withdrawn = await ilpnet(
            "escrow-deposit", "--connector", connector.url, "--ledger", "test.xrp",
            "--account", alice, "--withdraw",
        )  # fmt: skip
        assert withdrawn.stdout.strip() == "withdrew 999990"

        # off-ledger accounts: sign up, pay another one by its invoice, read the balance
        carol, dave = fresh("carol"), fresh("dave")
        signed = await ilpnet("offledger", "signup", "--connector", connector.url, carol)
        assert signed.returncode == 0, signed.stderr
        assert f"account test.conn.off.{carol}" in signed.stdout
        assert "balance 10.00 USD" in signed.stdout
        token = signed.stdout.split("token ", 1)[1].split()[0]
        assert (
            await ilpnet("offledger", "signup", "--connector", connector.url, dave)
        ).returncode == 0
        sent = await ilpnet(
            "offledger", "pay", "--connector", connector.url, "--account", carol,
            "--token", token, "--to", f"{connector.url}/offledger/{dave}/invoice", "250",
        )  # fmt: skip
        assert sent.stdout.strip() == "paid 250; balance 750", sent.stderr
        left = await ilpnet(
            "offledger", "balance", "--connector", connector.url, "--account", carol,
            "--token", token,
        )  # fmt: skip
        assert left.stdout.strip() == "7.50 USD"
    finally:
        if receiver is not None and receiver.returncode is None:
            receiver.kill()
            await receiver.wait()
        connector.stop()
    assert all(b.balanced for b in (await all_books(ledgers)).values())


async def test_an_unreachable_ledger_stops_the_escrow_connector_in_one_line(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there
    done = await ilpnet(
        "escrow-connector",
        "--address",
        "test.c",
        "--account",
        "c",
        "--secret",
        "s3cret-c",
        "--state",
        str(tmp_path / "state"),
        "--ledger",
        f"xrp=http://127.0.0.1:{port}",
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert lines[0].startswith("Error: a ledger is not reachable: ")
    assert f"127.0.0.1:{port}" in lines[0]
