"""`ilpnet ledger`: run a test ledger (`serve`) and use one (accounts, balance, faucet, books)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import aiohttp
import click

from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.errors import LedgerError
from ilpnet.ledger.faucet import FaucetPolicy
from ilpnet.ledger.models import Books, Transfer
from ilpnet.ledger.server import LedgerServer, serve
from ilpnet.ledger.service import LedgerConfig

T = TypeVar("T")


def run_or_exit(coro: Awaitable[T]) -> T:
    """Run one client coroutine; a ledger or connection error becomes one line and exit 1."""

    async def main() -> T:
        return await coro

    try:
        return asyncio.run(main())
    except LedgerError as err:
        raise click.ClickException(f"{err.error}: {err.message}") from None
    except (aiohttp.ClientError, OSError) as err:
        raise click.ClickException(f"cannot reach the ledger: {err}") from None


@click.group()
def ledger() -> None:
    """Run and use the built-in test ledgers."""


@ledger.command("serve")
@click.option("--name", required=True, help="Ledger name, e.g. test.xrp.")
@click.option("--asset", required=True, help="Asset code, e.g. XRP.")
@click.option("--scale", type=click.IntRange(0, 18), required=True, help="Asset scale.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--fee", type=click.IntRange(0), default=0, show_default=True, help="Burned per tx.")
@click.option(
    "--close-interval",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Milliseconds between ledger closes (0: commit at once).",
)
@click.option(
    "--faucet-max",
    type=click.IntRange(1),
    default=None,
    help="Most the faucet gives per request [default: 1000 whole units].",
)
@click.option("--faucet-per-account", type=click.IntRange(0), default=10, show_default=True)
@click.option("--faucet-per-client", type=click.IntRange(0), default=100, show_default=True)
@click.option(
    "--faucet-window",
    type=click.FloatRange(0.001),
    default=60.0,
    show_default=True,
    help="Seconds the faucet rate limits count over.",
)
def serve_command(
    name: str,
    asset: str,
    scale: int,
    host: str,
    port: int,
    db: Path,
    fee: int,
    close_interval: int,
    faucet_max: int | None,
    faucet_per_account: int,
    faucet_per_client: int,
    faucet_window: float,
) -> None:
    """Run one test ledger until interrupted."""
    config = LedgerConfig(
        name=name,
        asset_code=asset,
        asset_scale=scale,
        fee=fee,
        close_interval_ms=close_interval,
        faucet=FaucetPolicy(
            max_amount=faucet_max or 1000 * 10**scale,
            per_account=faucet_per_account,
            per_client=faucet_per_client,
            window_seconds=faucet_window,
        ),
    )
    db.parent.mkdir(parents=True, exist_ok=True)

    def ready(server: LedgerServer) -> None:
        click.echo(f"ledger {name} ({asset}, scale {scale}) listening on {server.url} db={db}")

    try:
        asyncio.run(serve(config, db, host=host, port=port, ready=ready))
    except (OSError, ValueError) as err:
        raise click.ClickException(str(err)) from None


url_option = click.option(
    "--ledger", "--url", "url", envvar="ILPNET_LEDGER_URL", required=True, help="Ledger URL."
)
account_option = click.option("--account", envvar="ILPNET_LEDGER_ACCOUNT", required=True)
secret_option = click.option(
    "--secret", envvar="ILPNET_LEDGER_SECRET", required=True, help="The account's secret."
)


@ledger.group()
def account() -> None:
    """Ledger accounts."""


@account.command("create")
@url_option
@click.argument("name")
@click.option(
    "--secret",
    envvar="ILPNET_LEDGER_SECRET",
    default=None,
    help="Secret to create it with [default: a new random one, printed once].",
)
def account_create(url: str, name: str, secret: str | None) -> None:
    """Create account NAME."""
    chosen = secret or secrets.token_urlsafe(24)

    async def go() -> int:
        async with LedgerClient(url) as client:
            return (await client.create_account(name, chosen)).balance

    balance = run_or_exit(go())
    click.echo(f"account {name} balance {balance}")
    if secret is None:
        click.echo(f"secret {chosen}  (keep it: the ledger never shows it again)")


@ledger.command()
@url_option
@account_option
@secret_option
def balance(url: str, account: str, secret: str) -> None:
    """Print the balance of an account (smallest units)."""

    async def go() -> int:
        async with LedgerClient(url, account, secret) as client:
            return await client.balance()

    click.echo(str(run_or_exit(go())))


@ledger.command()
@url_option
@account_option
@secret_option
@click.option("--amount", type=click.IntRange(1), required=True, help="Smallest units.")
def faucet(url: str, account: str, secret: str, amount: int) -> None:
    """Get test money (creates the account with this secret if it does not exist)."""

    async def go() -> int:
        async with LedgerClient(url, account, secret) as client:
            await client.create_account(account, secret)
            return (await client.faucet(amount)).balance

    click.echo(f"account {account} balance {run_or_exit(go())}")


@ledger.command()
@url_option
@account_option
@secret_option
@click.option("--to", "receiver", required=True, help="Receiving account.")
@click.option("--amount", type=click.IntRange(1), required=True, help="Smallest units.")
@click.option("--id", "request_id", default=None, help="Idempotency id [default: random].")
def transfer(
    url: str, account: str, secret: str, receiver: str, amount: int, request_id: str | None
) -> None:
    """Send AMOUNT to another account of the same ledger."""

    async def go() -> Transfer:
        async with LedgerClient(url, account, secret) as client:
            return await client.transfer(receiver, amount, request_id)

    t = run_or_exit(go())
    click.echo(f"transfer {t.id}: {t.sender} -> {t.receiver} {t.amount} (fee {t.fee})")


@ledger.command()
@url_option
@account_option
@secret_option
@click.option("--after", type=click.IntRange(0), default=0, help="Last sequence number seen.")
@click.option("--follow", is_flag=True, help="Keep the notification socket open.")
def events(url: str, account: str, secret: str, after: int, follow: bool) -> None:
    """Print the account's notifications as JSON lines (with --follow, live)."""

    async def go() -> None:
        async with LedgerClient(url, account, secret) as client:
            if not follow:
                for event in await client.events_page(after):
                    click.echo(json.dumps(event.to_json()))
                return
            async for event in client.subscribe(after):
                click.echo(json.dumps(event.to_json()))

    with contextlib.suppress(KeyboardInterrupt):
        run_or_exit(go())


@ledger.command()
@url_option
def books(url: str) -> None:
    """Check the books: minted == balances + escrowed + channel-locked + fees burned."""

    async def go() -> Books:
        async with LedgerClient(url) as client:
            return await client.books()

    b = run_or_exit(go())
    click.echo(
        f"minted {b.minted} = balances {b.balances} + escrowed {b.escrowed} + "
        f"channel-locked {b.channel_locked} + fees burned {b.fees_burned}: "
        + ("balanced" if b.balanced else "NOT BALANCED")
    )
    if not b.balanced:
        raise SystemExit(1)


if __name__ == "__main__":
    ledger()
