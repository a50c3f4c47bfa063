"""The end-to-end receiver behind `ilpnet receive`: a child of a connector (BTP + ILDCP)
running a STREAM server, reachable by payment pointer over an SPSP HTTP server.

    async with Receiver(connector="ws://…", token="…", port=8080) as receiver:
        print(receiver.pointer)                   # $127.0.0.1:8080
        async for payment in receiver.payments(): ...

`serve_receiver(...)` does the same until a stop event is set, calling back per payment.
The SPSP HTTP server also answers `GET /health` (JSON: pointer, address, asset, totals),
so a supervisor such as `ilpnet up` can watch a test receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Self

import structlog
from aiohttp import web

from ilpnet.app.spsp import WELL_KNOWN_PATH, SpspReceiver, spsp_app
from ilpnet.app.stream.connection import AssetDetails, MoneyReceived
from ilpnet.app.stream.server import IncomingPayment, ServerEvent, StreamServer
from ilpnet.clock import Clock, SystemClock
from ilpnet.links.base import Link
from ilpnet.links.btp import BtpClientLink
from ilpnet.links.ildcp import fetch_config

log = structlog.get_logger(__name__)

HEALTH_PATH = "/health"


class Receiver:
    """A STREAM receiver with an SPSP endpoint; `start()`/`close()` or `async with`."""

    def __init__(
        self,
        *,
        connector: str = "",
        token: str = "",
        link: Link | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        names: tuple[str, ...] = (),
        clock: Clock | None = None,
        server_secret: bytes | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._own_link = link is None
        self.link: Link = link or BtpClientLink(connector, "parent", token=token, clock=self.clock)
        self.host = host
        self.port = port
        self.names = names
        """Extra pointer paths (`$host:port/<name>`); the bare host always works."""
        self.server_secret = server_secret
        self.stream: StreamServer | None = None
        self._runner: web.AppRunner | None = None
        self.received_total = 0
        """Everything received since start, in the asset's smallest units."""
        self.received_packets = 0

    async def start(self) -> None:
        """Connect, learn our address and asset, start STREAM and the SPSP HTTP server."""
        if self._own_link:
            await self.link.start()
        config = await fetch_config(self.link, self.clock)
        self.stream = StreamServer(
            address=config.client_address,
            asset=AssetDetails(config.asset_code, config.asset_scale),
            server_secret=self.server_secret,
            clock=self.clock,
            link=self.link,
        )
        self.link.set_handler(self.stream.handle_prepare)
        self.stream.on_event(self._count)
        receivers: Mapping[str, SpspReceiver] = {
            WELL_KNOWN_PATH: SpspReceiver(self.stream, None),
            **{f"/{name}": SpspReceiver(self.stream, name) for name in self.names},
        }
        app = spsp_app(receivers)
        app.middlewares.append(self._health_middleware)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("receiver.ready", address=config.client_address, pointer=self.pointer)

    @property
    def address(self) -> str:
        return self._server().address

    @property
    def asset(self) -> AssetDetails:
        return self._server().asset

    @property
    def pointer(self) -> str:
        """The payment pointer (local: pay it with insecure http)."""
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"${netloc}:{self.port}"

    @property
    def spsp_url(self) -> str:
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{netloc}:{self.port}{WELL_KNOWN_PATH}"

    @property
    def health_url(self) -> str:
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{netloc}:{self.port}{HEALTH_PATH}"

    def health(self) -> dict[str, object]:
        """What `GET /health` answers: who we are and what arrived so far."""
        asset = self.asset
        return {
            "status": "ok",
            "pointer": self.pointer,
            "pointers": [self.pointer] + [f"{self.pointer}/{name}" for name in self.names],
            "address": self.address,
            "asset": {"code": asset.code, "scale": asset.scale},
            "received": str(self.received_total),
            "received_formatted": asset.format(self.received_total),
            "packets": self.received_packets,
        }

    def _count(self, event: ServerEvent) -> None:
        if isinstance(event.event, MoneyReceived):
            self.received_total += event.event.amount
            self.received_packets += 1

    @web.middleware
    async def _health_middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.path == HEALTH_PATH and request.method == "GET":
            return web.json_response(self.health())
        return await handler(request)

    def _server(self) -> StreamServer:
        if self.stream is None:
            raise RuntimeError("the receiver is not started")
        return self.stream

    def payments(self) -> AsyncIterator[IncomingPayment]:
        """Every payment from now on, as it arrives (ends at `close()`)."""
        return self._server().payments()

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_link:
            await self.link.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def serve_receiver(
    *,
    connector: str = "",
    token: str = "",
    link: Link | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    names: tuple[str, ...] = (),
    on_ready: Callable[[Receiver], None] | None = None,
    on_payment: Callable[[IncomingPayment], None] | None = None,
    stop: asyncio.Event | None = None,
    clock: Clock | None = None,
) -> None:
    """Run a receiver until `stop` is set (or forever), reporting each payment."""
    async with Receiver(
        connector=connector,
        token=token,
        link=link,
        host=host,
        port=port,
        names=names,
        clock=clock,
    ) as receiver:
        if on_ready is not None:
            on_ready(receiver)
        feed = receiver.payments()
        stopped = asyncio.ensure_future((stop or asyncio.Event()).wait())
        try:
            while True:
                next_payment = asyncio.ensure_future(anext(feed))
                done, _ = await asyncio.wait(
                    {next_payment, stopped}, return_when=asyncio.FIRST_COMPLETED
                )
                if next_payment not in done:
                    next_payment.cancel()
                    return
                payment = next_payment.result()
                if on_payment is not None:
                    on_payment(payment)
        finally:
            stopped.cancel()
