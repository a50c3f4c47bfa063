"""`ilpnet ledger ...` user commands against a real ledger process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ilpnet.cli.main import cli
from tests.ledger.servers import LedgerProcess, running_ledger
from tests.redis_server import free_port


@pytest.fixture(scope="module")
def ledger_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    with running_ledger(tmp_path_factory.mktemp("cli"), faucet_max=5_000) as server:
        yield server


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_account_faucet_balance_books(ledger_process: LedgerProcess) -> None:
    url = ledger_process.url
    code, out = run("ledger", "account", "create", "carol", "--ledger", url)
    assert code == 0, out
    assert "account carol balance 0" in out
    assert "secret " in out  # a generated secret is shown once
    code, out = run("ledger", "account", "create", "dave", "--url", url, "--secret", "dave-s3cret")
    assert (code, out.strip()) == (0, "account dave balance 0")
    who = ("--ledger", url, "--account", "dave", "--secret", "dave-s3cret")
    code, out = run("ledger", "faucet", *who, "--amount", "1200")
    assert (code, out.strip()) == (0, "account dave balance 1200")
    code, out = run("ledger", "balance", *who)
    assert (code, out.strip()) == (0, "1200")
    code, out = run("ledger", "books", "--ledger", url)
    assert code == 0
    assert "balanced" in out
    assert "minted 1200" in out


def test_transfer_and_events(ledger_process: LedgerProcess) -> None:
    url = ledger_process.url
    gina = ("--ledger", url, "--account", "gina", "--secret", "gina-s3cret")
    hal = ("--ledger", url, "--account", "hal", "--secret", "hal-s3cret")
    assert run("ledger", "faucet", *gina, "--amount", "100")[0] == 0
    assert run("ledger", "faucet", *hal, "--amount", "1")[0] == 0
    code, out = run("ledger", "transfer", *gina, "--to", "hal", "--amount", "30", "--id", "p1")
    assert (code, out.strip()) == (0, "transfer p1: gina -> hal 30 (fee 0)")
    code, out = run("ledger", "events", *hal, "--after", "1")
    assert code == 0
    (line,) = out.strip().splitlines()
    event = json.loads(line)
    assert (event["seq"], event["type"]) == (2, "transfer.received")
    assert event["data"]["transfer"]["amount"] == "30"
    code, out = run("ledger", "transfer", *gina, "--to", "hal", "--amount", "999")
    assert code == 1
    assert out.startswith("Error: insufficient_funds:")


def test_faucet_creates_the_account(ledger_process: LedgerProcess) -> None:
    who = ("--ledger", ledger_process.url, "--account", "erin", "--secret", "erin-s3cret")
    code, out = run("ledger", "faucet", *who, "--amount", "7")
    assert (code, out.strip()) == (0, "account erin balance 7")


def test_errors_are_one_line(ledger_process: LedgerProcess) -> None:
    url = ledger_process.url
    code, out = run(
        "ledger", "balance", "--ledger", url, "--account", "zed", "--secret", "nope-1234"
    )
    assert code == 1
    assert out.strip() == "Error: unauthorized: no account 'zed' with that secret"
    who = ("--ledger", url, "--account", "frank", "--secret", "frank-s3cret")
    code, out = run("ledger", "faucet", *who, "--amount", "999999")
    assert code == 1
    assert out.strip().startswith("Error: faucet_limit:")
    dead = f"http://127.0.0.1:{free_port()}"
    code, out = run("ledger", "books", "--ledger", dead)
    assert code == 1
    assert out.startswith("Error: cannot reach the ledger")
    assert len(out.strip().splitlines()) == 1


def test_serve_refuses_a_db_of_another_ledger(tmp_path: Path) -> None:
    with running_ledger(tmp_path, name="test.btc", asset="BTC", scale=8) as server:
        db = server.db
    code, out = run(
        "ledger", "serve", "--name", "test.ltc", "--asset", "LTC", "--scale", "8",
        "--db", str(db), "--port", str(free_port()),
    )  # fmt: skip
    assert code == 1
    assert "another ledger" in out


def test_serve_reports_a_busy_port(tmp_path: Path, ledger_process: LedgerProcess) -> None:
    code, out = run(
        "ledger", "serve", "--name", "test.xrp", "--asset", "XRP", "--scale", "6",
        "--db", str(tmp_path / "other.sqlite3"), "--port", str(ledger_process.port),
    )  # fmt: skip
    assert code == 1
    assert "in use" in out
