"""`ilpnet pay`, `ilpnet escrow-deposit` and `ilpnet escrow-connector`:
pay across test ledgers with on-ledger escrows and one connector in between."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from fractions import Fraction
from typing import TypeVar

import aiohttp
import click

from ilpnet.app.escrow_sender import (
    EscrowQuote,
    PaymentError,
    Receipt,
    deposit_status,
    pay_from_ledger,
    withdraw_deposit,
)
from ilpnet.app.offledger_client import account as offledger_account
from ilpnet.app.offledger_client import pay_from_offledger, signup
from ilpnet.ledger.errors import LedgerError
from ilpnet.node.escrow_connector import main as escrow_connector_main

T = TypeVar("T")


def run_or_exit(coro: Awaitable[T]) -> T:
    """Run one coroutine; any expected failure becomes one line and exit 1."""

    async def main() -> T:
        return await coro

    try:
        return asyncio.run(main())
    except PaymentError as err:
        raise click.ClickException(str(err)) from None
    except LedgerError as err:
        raise click.ClickException(f"{err.error}: {err.message}") from None
    except (aiohttp.ClientError, OSError) as err:
        raise click.ClickException(f"cannot connect: {err}") from None


def _units(amount: int, scale: int) -> str:
    if scale == 0:
        return str(amount)
    return f"{amount // 10**scale}.{amount % 10**scale:0{scale}d}"


def _rate(r: Fraction) -> str:
    scaled = r.numerator * 10**9 // r.denominator
    return f"{scaled // 10**9}.{scaled % 10**9:09d}"


def _hex_key(value: str | None) -> bytes | None:
    if value is None:
        return None
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise click.BadParameter("must be hex", param_hint="--receive-key") from None
    if len(key) != 32:
        raise click.BadParameter("must be 32 bytes (64 hex digits)", param_hint="--receive-key")
    return key


@click.command()
@click.option("--from-ledger", "ledger_url", required=True, help="Your ledger's URL.")
@click.option("--account", required=True, help="Your account on that ledger.")
@click.option("--secret", required=True, envvar="ILPNET_SECRET", help="Its secret.")
@click.option("--connector", "connector_url", required=True, help="The connector's API URL.")
@click.option("--to", "to", required=True, help="ILP address, invoice URL or payment pointer.")
@click.argument("amount", type=click.IntRange(min=1))
@click.option("--deliver", is_flag=True, help="AMOUNT is what the receiver gets.")
@click.option("--receive-key", help="The receiver's receive key (hex) to pay an ILP address.")
@click.option("--deposit", type=click.IntRange(min=0), default=0, help="Pay this deposit first.")
@click.option("--expiry", type=click.IntRange(min=1), default=30, help="Escrow seconds.")
@click.option("--yes", is_flag=True, help="Pay without asking.")
def pay(
    ledger_url: str,
    account: str,
    secret: str,
    connector_url: str,
    to: str,
    amount: int,
    deliver: bool,
    receive_key: str | None,
    deposit: int,
    expiry: int,
    yes: bool,
) -> None:
    """Pay AMOUNT (smallest units of your ledger) to an account on any ledger."""

    def confirm(q: EscrowQuote) -> bool:
        return yes or click.confirm("pay?", default=True)

    def progress(msg: str) -> None:
        click.echo(msg)

    receipt: Receipt = run_or_exit(
        pay_from_ledger(
            ledger_url,
            account,
            secret,
            connector_url,
            to,
            amount,
            deliver=deliver,
            receive_key=_hex_key(receive_key),
            deposit=deposit,
            expiry=timedelta(seconds=expiry),
            confirm=confirm,
            progress=progress,
        )
    )
    about, quoted = ("", "") if receipt.delivered_exact else ("about ", " (as quoted)")
    click.echo(
        f"receipt: sent {_units(receipt.sent, receipt.source_scale)} {receipt.source_asset}, "
        f"delivered {about}{_units(receipt.delivered, receipt.destination_scale)} "
        f"{receipt.destination_asset}{quoted}, rate {_rate(receipt.rate)} "
        f"{receipt.destination_asset}/{receipt.source_asset}, "
        f"fees {_units(receipt.fees, receipt.source_scale)} {receipt.source_asset}, "
        f"time {receipt.seconds:.2f} s, escrow {receipt.escrow_id}"
    )


@click.command("escrow-deposit")
@click.option("--connector", "connector_url", required=True, help="The connector's API URL.")
@click.option("--ledger", required=True, help="The ledger's name, e.g. test.xrp.")
@click.option("--account", required=True)
@click.option("--withdraw", is_flag=True, help="Pay what is left back to the account.")
def deposit(connector_url: str, ledger: str, account: str, withdraw: bool) -> None:
    """Show (or withdraw) an account's deposit at an escrow connector."""
    if withdraw:
        amount = run_or_exit(withdraw_deposit(connector_url, ledger, account))
        click.echo(f"withdrew {amount}")
        return
    body = run_or_exit(deposit_status(connector_url, ledger, account))
    click.echo(
        f"deposited {body['deposited']} charged {body['charged']} held {body['held']} "
        f"withdrawn {body['withdrawn']} available {body['available']}"
    )
    for c in body.get("charges", []):
        click.echo(f"  charge {c['amount']} for escrow {c['escrow']}")


@click.command(
    "escrow-connector",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def escrow_connector(args: tuple[str, ...]) -> None:
    """Run a connector serving test ledgers with escrows (--help for its flags)."""
    escrow_connector_main(list(args))


@click.group()
def offledger() -> None:
    """Off-ledger accounts at an escrow connector: sign up, balance, pay."""


@offledger.command("signup")
@click.option("--connector", "connector_url", required=True, help="The connector's API URL.")
@click.argument("name")
def offledger_signup(connector_url: str, name: str) -> None:
    """Open off-ledger account NAME (prints its token once: keep it)."""
    acct = run_or_exit(signup(connector_url, name))
    click.echo(f"account {acct.address}")
    click.echo(f"token {acct.token}")
    click.echo(f"balance {_units(acct.balance, acct.asset_scale)} {acct.asset_code}")
    click.echo(f"receive key {acct.receive_key.hex()}")
    click.echo(f"invoices at {connector_url.rstrip('/')}/offledger/{acct.name}/invoice")


@offledger.command("balance")
@click.option("--connector", "connector_url", required=True, help="The connector's API URL.")
@click.option("--account", required=True)
@click.option("--token", required=True, envvar="ILPNET_OFFLEDGER_TOKEN")
def offledger_balance(connector_url: str, account: str, token: str) -> None:
    """Print an off-ledger account's balance."""
    acct = run_or_exit(offledger_account(connector_url, account, token))
    click.echo(f"{_units(acct.balance, acct.asset_scale)} {acct.asset_code}")


@offledger.command("pay")
@click.option("--connector", "connector_url", required=True, help="The connector's API URL.")
@click.option("--account", required=True)
@click.option("--token", required=True, envvar="ILPNET_OFFLEDGER_TOKEN")
@click.option("--to", "to", required=True, help="ILP address, invoice URL or payment pointer.")
@click.option("--receive-key", help="The receiver's receive key (hex) to pay an ILP address.")
@click.argument("amount", type=click.IntRange(min=1))
def offledger_pay(
    connector_url: str, account: str, token: str, to: str, receive_key: str | None, amount: int
) -> None:
    """Pay AMOUNT (smallest units) from an off-ledger account."""
    left = run_or_exit(
        pay_from_offledger(
            connector_url, account, token, to, amount, receive_key=_hex_key(receive_key)
        )
    )
    click.echo(f"paid {amount}; balance {left}")


COMMANDS = (pay, deposit, escrow_connector, offledger)
