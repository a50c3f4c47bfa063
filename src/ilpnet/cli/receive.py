"""`ilpnet receive`: a STREAM receiver behind a payment pointer, as a child of a connector
(or, with `--ledger`, a receiver of on-ledger escrows); prints payments as they arrive.

Money arrives in packets; lines are grouped per connection (at most about five a second
each) with the running total, and one `done` line when the sender closes the connection.
The SPSP server also answers `GET /health` with JSON (pointer, asset, total received).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import click

from ilpnet.app.escrow_receiver import EscrowReceiver, Received, receive_on_ledger
from ilpnet.app.receiver import Receiver, serve_receiver
from ilpnet.app.stream.connection import AssetDetails, ConnectionClosed, MoneyReceived
from ilpnet.app.stream.server import ServerEvent
from ilpnet.cli.options import connect_timeout_option, log_level_option
from ilpnet.ledger.errors import LedgerError
from ilpnet.links.btp import BtpAuthError, BtpClientLink
from ilpnet.node.connector_process import configure_logging
from ilpnet.wire.errors import IlpError

GROUP_S = 0.2
"""Packets of one connection arriving within this long are shown as one line."""


@dataclass
class _Incoming:
    """What one connection brought so far, and what is not printed yet."""

    total: int = 0
    packets: int = 0
    pending: int = 0
    flush: asyncio.TimerHandle | None = None


@dataclass
class _PaymentPrinter:
    """Prints money per connection: grouped lines while it arrives, a `done` line at the end."""

    asset: AssetDetails
    stop_after: int | None = None
    """Set `stop` after this many payments (connections that brought money and closed)."""
    stop: asyncio.Event | None = None
    tags: dict[str, str | None] = field(default_factory=dict)
    connections: dict[str, _Incoming] = field(default_factory=dict)
    done: int = 0

    def __call__(self, wrapped: ServerEvent) -> None:
        event = wrapped.event
        cid = wrapped.connection_id
        if isinstance(event, MoneyReceived):
            self.tags[cid] = wrapped.connection_tag
            incoming = self.connections.setdefault(cid, _Incoming())
            incoming.total += event.amount
            incoming.packets += 1
            incoming.pending += event.amount
            if incoming.flush is None:
                loop = asyncio.get_running_loop()
                incoming.flush = loop.call_later(GROUP_S, self.flush, cid)
        elif isinstance(event, ConnectionClosed) and cid in self.connections:
            self.flush(cid)
            incoming = self.connections.pop(cid)
            click.echo(
                f"done     {self.asset.format(incoming.total)} in {_packets(incoming.packets)} "
                f"{self._name(cid)}"
            )
            self.done += 1
            if self.stop is not None and self.done >= (self.stop_after or self.done + 1):
                self.stop.set()

    def flush(self, cid: str) -> None:
        incoming = self.connections.get(cid)
        if incoming is None:
            return
        if incoming.flush is not None:
            incoming.flush.cancel()
            incoming.flush = None
        if incoming.pending:
            click.echo(
                f"received {self.asset.format(incoming.pending)} "
                f"(total {self.asset.format(incoming.total)}, {_packets(incoming.packets)}) "
                f"{self._name(cid)}"
            )
            incoming.pending = 0

    def flush_all(self) -> None:
        for cid in list(self.connections):
            self.flush(cid)

    def _name(self, cid: str) -> str:
        tag = self.tags.get(cid)
        return f"on connection {cid[:8]}" + (f" to /{tag}" if tag else "")


def _packets(count: int) -> str:
    return f"{count} packet" if count == 1 else f"{count} packets"


@click.command()
@click.option(
    "--connector",
    envvar="ILPNET_CONNECTOR",
    default=None,
    help="BTP URL of the connector to be a child of (env ILPNET_CONNECTOR).",
)
@click.option(
    "--token",
    envvar="ILPNET_TOKEN",
    default="",
    help="Your BTP token at that connector (env ILPNET_TOKEN).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Where SPSP listens.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="SPSP HTTP port (default: a free one). With --ledger: serve invoices on it "
    "(0: a free port; default: no invoices).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="Also answer the pointer $host:port/NAME (repeatable); payments show the name.",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N payments.")
@click.option("--ledger", "ledger_url", default=None, help="Receive escrows on this ledger URL.")
@click.option("--account", default=None, help="With --ledger: your account on it.")
@click.option("--secret", envvar="ILPNET_SECRET", default=None, help="With --ledger: its secret.")
@click.option(
    "--receive-key",
    default=None,
    help="With --ledger: the receive key, 64 hex digits (default: derived from the secret).",
)
@connect_timeout_option(30.0)
@log_level_option("error")
def receive(
    connector: str | None,
    token: str,
    host: str,
    port: int | None,
    names: tuple[str, ...],
    count: int | None,
    ledger_url: str | None,
    account: str | None,
    secret: str | None,
    receive_key: str | None,
    connect_timeout: float,
    log_level: str,
) -> None:
    """Receive payments at a payment pointer until Ctrl-C.

    As a child of the connector at --connector (it learns its ILP address and asset with
    ILDCP), it serves SPSP on --host/--port and prints the pointer to pay. With --ledger
    and --account it instead fulfils on-ledger escrows paid to that account.
    """
    configure_logging(log_level)
    if ledger_url is not None:
        if account is None or secret is None:
            raise click.UsageError("--ledger needs --account and --secret (or ILPNET_SECRET)")
        key = _receive_key(receive_key)
        _run(_receive_on_ledger(ledger_url, account, secret, key, port, count))
        return
    if not connector:
        raise click.UsageError("give --connector ws://… (or ILPNET_CONNECTOR), or --ledger URL")
    _run(
        _receive_from_connector(connector, token, host, port or 0, names, count, connect_timeout),
        connector,
    )


def _run(main: Coroutine[Any, Any, None], connector: str = "") -> None:
    """Run until Ctrl-C/SIGTERM; expected failures become one line and exit 1."""
    try:
        asyncio.run(main)
    except BtpAuthError as err:
        raise click.ClickException(
            f"connector {connector} refused the token ({err.message})"
        ) from None
    except IlpError as err:
        raise click.ClickException(err.message) from None
    except LedgerError as err:
        raise click.ClickException(f"{err.error}: {err.message}") from None
    except (OSError, ValueError) as err:
        raise click.ClickException(f"cannot connect: {err}") from None


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _connect(link: BtpClientLink, stop: asyncio.Event) -> bool:
    """Start the link unless Ctrl-C comes first (then False); failures raise."""
    starting = asyncio.ensure_future(link.start())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not starting.done():
        starting.cancel()
        await link.close()
        return False
    starting.result()
    return True


async def _receive_from_connector(
    connector: str,
    token: str,
    host: str,
    port: int,
    names: tuple[str, ...],
    count: int | None,
    connect_timeout: float,
) -> None:
    stop = _stop_on_signals()
    link = BtpClientLink(connector, "parent", token=token, start_timeout=connect_timeout)
    if not await _connect(link, stop):
        click.echo("stopped before the connector accepted us")
        return
    started: list[tuple[Receiver, _PaymentPrinter]] = []

    def ready(receiver: Receiver) -> None:
        printer = _PaymentPrinter(receiver.asset, stop_after=count, stop=stop)
        started.append((receiver, printer))
        assert receiver.stream is not None
        receiver.stream.on_event(printer)
        click.echo(f"payment pointer: {receiver.pointer}")
        for name in names:
            click.echo(f"payment pointer: {receiver.pointer}/{name}")
        click.echo(f"ILP address: {receiver.address}")
        click.echo(f"asset: {receiver.asset.code} (scale {receiver.asset.scale})")
        click.echo(f"health: {receiver.health_url}")
        click.echo("pay it with: ilpnet send --insecure-http 'POINTER' AMOUNT  (Ctrl-C to stop)")

    try:
        await serve_receiver(
            link=link, host=host, port=port, names=names, on_ready=ready, stop=stop
        )
    finally:
        await link.close()
    for receiver, printer in started:
        printer.flush_all()
        click.echo(
            f"stopped; received {receiver.asset.format(receiver.received_total)} "
            f"in {_packets(receiver.received_packets)}"
        )


def _receive_key(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise click.BadParameter("must be hex", param_hint="--receive-key") from None
    if len(key) != 32:
        raise click.BadParameter("must be 32 bytes (64 hex digits)", param_hint="--receive-key")
    return key


async def _receive_on_ledger(
    ledger_url: str,
    account: str,
    secret: str,
    receive_key: bytes | None,
    http_port: int | None,
    count: int | None,
) -> None:
    """Fulfil the escrows paid to ACCOUNT, printing each as it arrives."""
    stop = _stop_on_signals()
    got = 0

    def ready(receiver: EscrowReceiver) -> None:
        click.echo(f"receiving at {receiver.address}")
        click.echo(f"receive key {receiver.receive_key.hex()}")
        if receiver.invoice_url:
            click.echo(f"invoices at {receiver.invoice_url}")

    def paid(r: Received) -> None:
        nonlocal got
        got += 1
        click.echo(f"received {r.amount} from {r.sender} (escrow {r.escrow_id})")
        if count is not None and got >= count:
            stop.set()

    received = await receive_on_ledger(
        ledger_url,
        account,
        secret,
        receive_key=receive_key,
        http_port=http_port,
        on_ready=ready,
        on_payment=paid,
        stop=stop,
    )
    click.echo(f"stopped; received {sum(r.amount for r in received)} in {len(received)} escrows")
