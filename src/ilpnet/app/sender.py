"""The end-to-end sender behind `ilpnet send`: connect to a connector over BTP, learn our
address over ILDCP, resolve the payment pointer with SPSP, probe, pay over STREAM.

    receipt = await pay(SendRequest("$127.0.0.1:8080", 1000, connector="ws://…", token="…",
                                    insecure_http=True), on_progress=bar.update, stop=stop)

`stop` is an event the CLI sets on Ctrl-C: no new packets go out, the ones in flight are
answered, and the receipt says exactly what was delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ilpnet.app.spsp import SpspDetails, resolve
from ilpnet.app.stream.client import DEFAULT_SLIPPAGE, IDLE_TIMEOUT_S, StreamClient
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.app.stream.errors import ConnectFailedError, PaymentReceipt
from ilpnet.clock import Clock, SystemClock
from ilpnet.links.base import Link
from ilpnet.links.btp import BtpClientLink
from ilpnet.links.ildcp import fetch_config
from ilpnet.wire.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class SendRequest:
    """What to pay: `amount` in the sender's smallest units (or, with `fixed_delivery`, in
    the receiver's smallest units) to a payment pointer or SPSP URL."""

    target: str
    amount: int = 0
    """In smallest units (of the source asset, or of the receiver's with `fixed_delivery`)."""
    asset_amount: Decimal | None = None
    """Instead of `amount`: whole units of that asset (e.g. Decimal("10.5") USD)."""
    connector: str = ""
    """BTP URL of our connector, e.g. ws://127.0.0.1:7768 (unused when a link is given)."""
    token: str = ""
    fixed_delivery: bool = False
    slippage: Fraction = DEFAULT_SLIPPAGE
    min_rate: Fraction | None = None
    """Least destination units per source unit (smallest units) the sender accepts."""
    insecure_http: bool = False
    idle_timeout: float = IDLE_TIMEOUT_S
    """Give up when nothing is fulfilled for this long (connector or receiver gone)."""


@dataclass(frozen=True, slots=True)
class Quote:
    """What the sender knows before money moves (for the CLI to show)."""

    spsp: SpspDetails
    own_address: str
    source: AssetDetails
    destination: AssetDetails | None
    rate: Fraction
    max_packet_amount: int | None


async def pay(
    request: SendRequest,
    *,
    link: Link | None = None,
    clock: Clock | None = None,
    on_quote: Callable[[Quote], None] | None = None,
    on_progress: Callable[[PaymentReceipt], None] | None = None,
    stop: asyncio.Event | None = None,
) -> PaymentReceipt:
    """Pay `request`; raises an `IlpError` subclass with a one-line message on failure
    (`SpspError`, `PaymentError` with `.receipt`, `IldcpFailed`, BTP errors)."""
    clock = clock or SystemClock()
    own_link = link is None
    if link is None:
        link = BtpClientLink(request.connector, "parent", token=request.token, clock=clock)
        await link.start()
    try:
        config = await fetch_config(link, clock)
        spsp = await resolve(request.target, insecure_http=request.insecure_http)
        asset = AssetDetails(config.asset_code, config.asset_scale)
        client = StreamClient(
            link,
            destination=spsp.destination_account,
            shared_secret=spsp.shared_secret,
            own_address=config.client_address,
            asset=asset,
            clock=clock,
        )
        link.set_handler(client.handle_incoming)
        rate = await client.probe_rate()
        if on_quote is not None:
            on_quote(
                Quote(
                    spsp,
                    config.client_address,
                    asset,
                    client.connection.remote_asset,
                    rate,
                    client.max_packet_amount,
                )
            )
        amount = request.amount
        if request.asset_amount is not None:
            unit = client.connection.remote_asset if request.fixed_delivery else asset
            if unit is None:
                raise ConnectFailedError(
                    ErrorCode.F99_APPLICATION_ERROR,
                    "the receiver did not say its asset, so an amount in its units is unknown",
                    client.receipt(),
                )
            amount = unit.to_smallest_units(request.asset_amount)
        payment = client.payment(
            source_amount=None if request.fixed_delivery else amount,
            delivery_amount=amount if request.fixed_delivery else None,
            min_rate=request.min_rate,
            slippage=request.slippage,
            on_progress=on_progress,
            idle_timeout=request.idle_timeout,
        )
        watcher = None
        if stop is not None:
            watcher = asyncio.ensure_future(_stop_when_set(stop, payment.stop))
        try:
            return await payment.run()
        finally:
            if watcher is not None:
                watcher.cancel()
            with contextlib.suppress(Exception):
                await client.close()
    finally:
        if own_link:
            await link.close()


async def _stop_when_set(event: asyncio.Event, stop: Callable[[], None]) -> None:
    await event.wait()
    stop()
