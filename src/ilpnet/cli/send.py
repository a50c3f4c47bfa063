"""`ilpnet send`: pay a payment pointer over STREAM through a connector, showing the quote,
a progress bar and a receipt.

Exit status: 0 when the whole amount went through; 1 on any failure (one `Error: …` line on
stderr with exactly what was sent and delivered so far); 130 when Ctrl-C stopped the
payment (the first Ctrl-C lets the packets in flight be answered and prints the partial
receipt; a second one quits at once).
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ilpnet.app.sender import Quote, SendRequest, pay
from ilpnet.app.spsp import endpoint_url
from ilpnet.app.stream.client import DEFAULT_SLIPPAGE, IDLE_TIMEOUT_S
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.app.stream.errors import PaymentError, PaymentReceipt
from ilpnet.cli.options import connect_timeout_option, log_level_option
from ilpnet.links.btp import BtpAuthError, BtpClientLink
from ilpnet.node.connector_process import configure_logging
from ilpnet.wire.errors import IlpError

EXIT_INTERRUPTED = 130


def parse_fraction(text: str, what: str) -> Fraction:
    """A decimal (`0.5`) or a ratio (`3/2`) as an exact, non-negative Fraction."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(
            f"{text!r} is not a number like 0.01 or 3/2", param_hint=what
        ) from None
    if value < 0:
        raise click.BadParameter(f"{text!r} must not be negative", param_hint=what)
    return value


def format_rate(rate: Fraction, source: AssetDetails, destination: AssetDetails | None) -> str:
    """`1 USD = 143.712 JPY` (a rate in smallest units shown per whole source unit)."""
    if destination is None:
        return f"{_decimal(rate)} per smallest unit"
    whole = rate * 10**source.scale / 10**destination.scale
    return f"1 {source.code} = {_decimal(whole)} {destination.code}"


def _decimal(value: Fraction, digits: int = 8) -> str:
    with localcontext() as ctx:
        ctx.prec = digits
        number = Decimal(value.numerator) / Decimal(value.denominator)
        text = f"{number.normalize():f}"
    return text


@dataclass
class _Assets:
    source: AssetDetails | None = None
    destination: AssetDetails | None = None

    def learn(self, receipt: PaymentReceipt) -> None:
        if receipt.source_code is not None and receipt.source_scale is not None:
            self.source = AssetDetails(receipt.source_code, receipt.source_scale)
        if receipt.destination_code is not None and receipt.destination_scale is not None:
            self.destination = AssetDetails(receipt.destination_code, receipt.destination_scale)

    def sent(self, amount: int) -> str:
        return self.source.format(amount) if self.source else str(amount)

    def delivered(self, amount: int) -> str:
        return self.destination.format(amount) if self.destination else str(amount)

    def so_far(self, receipt: PaymentReceipt | None) -> str:
        if receipt is None:
            return "nothing was sent"
        self.learn(receipt)
        text = f"sent {self.sent(receipt.sent)}, delivered {self.delivered(receipt.delivered)}"
        if receipt.in_flight:
            text += f", {self.sent(receipt.in_flight)} in flight unanswered"
        return text + " so far"


def _amount(text: str, asset_amount: bool) -> tuple[int, Decimal | None]:
    if asset_amount:
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite() or value <= 0:
            raise click.BadParameter(
                f"{text!r} is not a positive amount like 10.50", param_hint="AMOUNT"
            )
        return 0, value
    if not text.isdigit() or int(text) <= 0:
        raise click.BadParameter(
            f"{text!r} is not a positive whole number of smallest units "
            "(add --asset-amount to give e.g. 10.50)",
            param_hint="AMOUNT",
        )
    return int(text), None


@click.command()
@click.argument("pointer")
@click.argument("amount")
@click.option(
    "--connector",
    envvar="ILPNET_CONNECTOR",
    required=True,
    help="BTP URL of your connector, e.g. ws://127.0.0.1:7768 (env ILPNET_CONNECTOR).",
)
@click.option(
    "--token",
    envvar="ILPNET_TOKEN",
    default="",
    help="Your BTP token at that connector (env ILPNET_TOKEN).",
)
@click.option(
    "--asset-amount",
    is_flag=True,
    help="AMOUNT is in whole units of the asset (10.50), not smallest units (1050).",
)
@click.option(
    "--fixed-delivery",
    is_flag=True,
    help="AMOUNT is what the receiver gets, in its asset; the default is what you send.",
)
@click.option(
    "--max-slippage",
    default=_decimal(DEFAULT_SLIPPAGE),
    show_default=True,
    help="Fraction of the probed rate a packet may lose (0.01 = 1%).",
)
@click.option(
    "--min-rate",
    default=None,
    help="Least receiver smallest units per source smallest unit (e.g. 1.4 or 7/5); "
    "the quote shows the path's rate in the same terms.",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Allow plain http:// SPSP for loopback and .localhost/.test hosts.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0.1),
    default=IDLE_TIMEOUT_S,
    show_default=True,
    help="Give up when nothing is fulfilled for this many seconds.",
)
@connect_timeout_option(10.0)
@log_level_option("error")
def send(
    pointer: str,
    amount: str,
    connector: str,
    token: str,
    asset_amount: bool,
    fixed_delivery: bool,
    max_slippage: str,
    min_rate: str | None,
    insecure_http: bool,
    idle_timeout: float,
    connect_timeout: float,
    log_level: str,
) -> None:
    """Pay AMOUNT to POINTER (a payment pointer such as '$wallet.example/alice').

    AMOUNT is in your asset's smallest units (1050 = 10.50 USD), or with --asset-amount in
    whole units; with --fixed-delivery it is what the receiver gets, in its asset.
    Quote the pointer in a shell: '$…' would be expanded. Ctrl-C stops cleanly (exit 130).
    """
    configure_logging(log_level)
    smallest, decimal_amount = _amount(amount, asset_amount)
    slippage = parse_fraction(max_slippage, "--max-slippage")
    if slippage >= 1:
        raise click.BadParameter("must be below 1 (0.01 = 1%)", param_hint="--max-slippage")
    request = SendRequest(
        pointer,
        smallest,
        asset_amount=decimal_amount,
        connector=connector,
        token=token,
        fixed_delivery=fixed_delivery,
        slippage=slippage,
        min_rate=None if min_rate is None else parse_fraction(min_rate, "--min-rate"),
        insecure_http=insecure_http,
        idle_timeout=idle_timeout,
    )
    try:
        endpoint_url(pointer, insecure_http=insecure_http)
    except IlpError as err:
        raise click.ClickException(f"{err.message}; nothing was sent") from None
    run = _Run(request, connect_timeout)
    receipt = asyncio.run(run.main())
    if receipt is None:
        if run.exit_code == EXIT_INTERRUPTED:
            click.echo(f"Error: {run.failure}", err=True)
            raise SystemExit(EXIT_INTERRUPTED)
        raise click.ClickException(run.failure)
    run.print_receipt(receipt)
    if not receipt.complete:
        click.echo(
            f"stopped by Ctrl-C: {run.assets.so_far(receipt)}; the rest was not sent", err=True
        )
        raise SystemExit(EXIT_INTERRUPTED)


class _Run:
    """One payment as the terminal shows it: quote, progress bar, receipt, Ctrl-C."""

    def __init__(self, request: SendRequest, connect_timeout: float) -> None:
        self.request = request
        self.connect_timeout = connect_timeout
        self.out = Console()
        self.err = Console(stderr=True)
        self.assets = _Assets()
        self.quote: Quote | None = None
        self.last: PaymentReceipt | None = None
        self.failure = ""
        self.exit_code = 1
        self.progress = Progress(
            TextColumn("paying"),
            BarColumn(),
            TextColumn("{task.fields[done]}"),
            TimeElapsedColumn(),
            console=self.out,
        )
        self.task: TaskID | None = None
        self.stop = asyncio.Event()
        self.interrupts = 0

    async def main(self) -> PaymentReceipt | None:
        """The receipt, or None with `failure` set to the one line to print."""
        paying = asyncio.ensure_future(self.pay())
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, self.interrupt, paying)
        try:
            return await paying
        except asyncio.CancelledError:
            self.failure = f"interrupted: {self.assets.so_far(self.last)}"
            if self.last is not None:
                self.failure += " (packets in flight were not waited for)"
            self.exit_code = EXIT_INTERRUPTED
        except PaymentError as err:
            self.failure = f"{err.reason}; {self.assets.so_far(err.receipt)}"
        except BtpAuthError as err:
            self.failure = f"connector {self.request.connector} refused the token ({err.message})"
            self.failure += f"; {self.assets.so_far(self.last)}"
        except IlpError as err:
            self.failure = f"{err.message}; {self.assets.so_far(self.last)}"
        except (OSError, ValueError) as err:
            self.failure = f"cannot reach connector {self.request.connector}: {err}"
            self.failure += f"; {self.assets.so_far(self.last)}"
        except Exception as err:  # a bug: still one line, with what moved
            self.failure = f"internal error {type(err).__name__}: {err}"
            self.failure += f"; {self.assets.so_far(self.last)}"
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            self.progress.stop()
        return None

    async def pay(self) -> PaymentReceipt:
        """`pay()` over a link opened here, so that connecting is bounded by our timeout."""
        request = self.request
        link = BtpClientLink(
            request.connector, "parent", token=request.token, start_timeout=self.connect_timeout
        )
        await link.start()
        try:
            return await pay(
                request,
                link=link,
                on_quote=self.on_quote,
                on_progress=self.on_progress,
                stop=self.stop,
            )
        finally:
            await link.close()

    def interrupt(self, paying: asyncio.Future[PaymentReceipt]) -> None:
        self.interrupts += 1
        if self.quote is None or self.interrupts > 1:
            paying.cancel()
            return
        self.stop.set()
        self.err.print("stopping: waiting for the packets in flight (Ctrl-C again to quit now)")

    def on_quote(self, quote: Quote) -> None:
        self.quote = quote
        self.assets.source, self.assets.destination = quote.source, quote.destination
        table = Table(title="quote", show_header=False, box=box.SIMPLE, title_justify="left")
        receiver = quote.spsp.destination_account.rsplit(".", 1)[0]  # less the connection
        table.add_row("to", f"{self.request.target} ({receiver})")
        table.add_row("from", f"{quote.own_address} ({quote.source.code})")
        table.add_row("rate", format_rate(quote.rate, quote.source, quote.destination))
        table.add_row("rate (smallest units)", _decimal(quote.rate))
        if quote.max_packet_amount is not None:
            table.add_row("max packet", quote.source.format(quote.max_packet_amount))
        self.out.print(table)
        total = self._total(quote)
        self.progress.start()
        self.task = self.progress.add_task("pay", total=total, done="")

    def _total(self, quote: Quote) -> int | None:
        if self.request.asset_amount is None:
            return self.request.amount
        unit = quote.destination if self.request.fixed_delivery else quote.source
        if unit is None:
            return None
        try:
            return unit.to_smallest_units(self.request.asset_amount)
        except IlpError:
            return None  # pay() itself reports it

    def on_progress(self, receipt: PaymentReceipt) -> None:
        self.last = receipt
        if self.task is None:
            return
        done = receipt.delivered if self.request.fixed_delivery else receipt.sent
        self.progress.update(
            self.task,
            completed=done,
            done=f"{self.assets.sent(receipt.sent)} → {self.assets.delivered(receipt.delivered)}",
        )

    def print_receipt(self, receipt: PaymentReceipt) -> None:
        self.assets.learn(receipt)
        source = self.assets.source
        table = Table(title="receipt", show_header=False, box=box.SIMPLE, title_justify="left")
        table.add_row("status", "complete" if receipt.complete else "stopped (partial)")
        table.add_row("sent", self.assets.sent(receipt.sent))
        table.add_row("delivered", self.assets.delivered(receipt.delivered))
        effective = receipt.effective_rate
        if effective is not None and source is not None:
            table.add_row("rate", format_rate(effective, source, self.assets.destination))
        if receipt.rate is not None and source is not None:
            table.add_row("quoted rate", format_rate(receipt.rate, source, self.assets.destination))
        rejected = f" ({receipt.rejected_packets} rejected and retried)"
        table.add_row("packets", f"{receipt.packets}{rejected if receipt.rejected_packets else ''}")
        table.add_row("time", f"{receipt.seconds:.2f} s")
        self.out.print(table)
