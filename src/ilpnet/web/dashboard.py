"""The dashboard server: the page, its live feed, and the faucet and send forms.

    GET  /                  the page (static HTML/CSS/JS shipped in `web/static/`)
    GET  /health            {"status": "ok", ...}
    GET  /api/state         the whole picture (JSON)
    GET  /events            server-sent events: `snapshot`, then `ledger`, `connector`,
                            `payment` and `payments` deltas
    POST /api/faucet        {"ledger", "account", "amount", "secret"?}
    POST /api/send          {"ledger", "account", "secret"?, "to_ledger", "to", "amount"}
    GET  /directory         every connector's BTP and HTTP endpoints (HTML)
    GET  /directory.json    the same as JSON

Amounts in forms are in the ledger's units as typed ("12.5"); everything the server
sends back carries amounts as decimal strings of smallest units.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ilpnet.clock import Clock, SystemClock
from ilpnet.ledger.errors import AccountExists, LedgerError
from ilpnet.web.amounts import AmountError, format_amount, parse_amount
from ilpnet.web.directory import directory_html, directory_json
from ilpnet.web.escrow_payer import EscrowPayer
from ilpnet.web.ledger_pool import LedgerPool
from ilpnet.web.live_state import LiveState
from ilpnet.web.network_view import LedgerView, NetworkView
from ilpnet.web.payer import OnLedgerPayer, Payer, PaymentError, PaymentRequest
from ilpnet.web.wallet import Wallet, WalletError, check_account_name
from ilpnet.web.watchers import NetworkWatcher, WatchIntervals

log = structlog.get_logger(__name__)

PayerFactory = Callable[[NetworkView, LedgerPool, Clock, Wallet], Payer]
KEEPALIVE_SECONDS = 15.0
MAX_FORM_BODY = 16 * 1024


def on_ledger_payer(network: NetworkView, pool: LedgerPool, clock: Clock, wallet: Wallet) -> Payer:
    """Same-ledger transfers only."""
    return OnLedgerPayer(network.ledgers, pool, clock)


def escrow_payer(network: NetworkView, pool: LedgerPool, clock: Clock, wallet: Wallet) -> Payer:
    """Transfers on one ledger; across ledgers through the network's escrow connectors."""
    return EscrowPayer(network, pool, clock, wallet)


def static_dir() -> Path:
    return Path(str(resources.files("ilpnet.web") / "static"))


class FormError(Exception):
    """A form the server refuses; becomes `{"error", "message"}` with `status`."""

    def __init__(self, error: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error, self.message, self.status = error, message, status


class Dashboard:
    """The running dashboard: the network it shows, its live state, wallet and watchers."""

    def __init__(
        self,
        network: NetworkView,
        *,
        wallet: Wallet,
        clock: Clock,
        payer_factory: PayerFactory,
        intervals: WatchIntervals,
    ) -> None:
        self.network = network
        self.wallet = wallet
        self.clock = clock
        self.payer_factory = payer_factory
        self.intervals = intervals
        self.pool = LedgerPool()
        self.state = LiveState(network)
        self.payer = payer_factory(network, self.pool, clock, wallet)
        self.watcher = NetworkWatcher(network, self.state, wallet, self.pool, intervals, clock)

    async def start(self) -> None:
        self.watcher.start()

    async def stop(self) -> None:
        self.state.close_subscribers()
        await self.watcher.stop()
        await self.pool.close()

    async def set_network(self, network: NetworkView) -> None:
        """Show another network description (the network file changed)."""
        if network == self.network:
            return
        await self.watcher.stop()
        self.network = network
        self.state.reset(network)
        self.payer = self.payer_factory(network, self.pool, self.clock, self.wallet)
        self.watcher = NetworkWatcher(
            network, self.state, self.wallet, self.pool, self.intervals, self.clock
        )
        self.watcher.start()
        log.info("dashboard.network_changed", ledgers=len(network.ledgers))

    def ledger(self, key: object) -> LedgerView:
        if not isinstance(key, str) or key not in self.network.ledgers:
            known = ", ".join(sorted(self.network.ledgers)) or "none"
            raise FormError("unknown_ledger", f"unknown ledger {key!r} (known: {known})")
        return self.network.ledgers[key]

    async def faucet(self, form: dict[str, Any]) -> dict[str, Any]:
        ledger = self.ledger(form.get("ledger"))
        account = _account_field(form, "account")
        amount = _amount_field(form, ledger)
        creds = self.wallet.credentials(ledger.key, account, _secret_field(form))
        client = self.pool.client(ledger.url, creds)
        try:
            await client.create_account(account, creds.secret)
            result = await client.faucet(amount)
        except AccountExists:
            raise FormError(
                "account_exists",
                f"{account} already exists on {ledger.name} with another secret: "
                "type its secret in the form, or pick another name",
                409,
            ) from None
        self.wallet.remember(creds)
        self.watcher.watch_account(creds)
        self.state.set_balance(ledger.key, account, result.balance)
        self.watcher.poke(ledger.key)
        return {
            "ledger": ledger.key,
            "account": account,
            "minted": str(amount),
            "balance": str(result.balance),
            "balance_display": f"{format_amount(result.balance, ledger.scale)} {ledger.asset}",
        }

    async def send(self, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        ledger = self.ledger(form.get("ledger"))
        account = _account_field(form, "account")
        amount = _amount_field(form, ledger)
        to = form.get("to")
        if not isinstance(to, str) or not to.strip():
            raise FormError("invalid_request", "field 'to': an account name or payment pointer")
        to = to.strip()
        to_ledger = form.get("to_ledger") or ledger.key
        if not to.startswith("$"):
            self.ledger(to_ledger)
            _check_name(to, "to")
        creds = self.wallet.credentials(ledger.key, account, _secret_field(form))
        request = PaymentRequest(creds, str(to_ledger), to, amount)
        try:
            payment = await self.payer.pay(request)
        except PaymentError as exc:
            raise FormError("payment_refused", str(exc)) from None
        if payment.state == "fulfilled":
            self.wallet.remember(creds)
            self.watcher.watch_account(creds)
        self.state.add_payment(payment)
        self.watcher.poke(ledger.key)
        if payment.destination_ledger != ledger.key:
            self.watcher.poke(payment.destination_ledger)
        status = 200 if payment.state == "fulfilled" else 422
        return status, {"payment": payment.to_json()}


def _account_field(form: dict[str, Any], key: str) -> str:
    raw = form.get(key)
    if not isinstance(raw, str) or not raw.strip():
        raise FormError("invalid_request", f"field {key!r}: an account name")
    return _check_name(raw.strip(), key)


def _check_name(name: str, key: str) -> str:
    try:
        return check_account_name(name)
    except WalletError as exc:
        raise FormError("invalid_request", f"field {key!r}: {exc}") from None


def _secret_field(form: dict[str, Any]) -> str:
    raw = form.get("secret") or ""
    if not isinstance(raw, str) or (raw and not 8 <= len(raw) <= 256):
        raise FormError("invalid_request", "field 'secret': 8 to 256 characters, or empty")
    return raw


def _amount_field(form: dict[str, Any], ledger: LedgerView) -> int:
    raw = form.get("amount")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise FormError("invalid_amount", f"field 'amount': a number of {ledger.asset}")
    try:
        return parse_amount(raw, ledger.scale)
    except AmountError as exc:
        raise FormError("invalid_amount", str(exc)) from None


DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)


def _reply(value: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(value, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )


async def _form(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise FormError("invalid_request", "body is not JSON") from None
    if not isinstance(body, dict):
        raise FormError("invalid_request", "body must be a JSON object")
    return body


async def _run_form(request: web.Request, action: str) -> web.Response:
    dashboard = request.app[DASHBOARD_KEY]
    try:
        form = await _form(request)
        if action == "faucet":
            return _reply(await dashboard.faucet(form))
        status, answer = await dashboard.send(form)
        return _reply(answer, status)
    except FormError as exc:
        return _reply({"error": exc.error, "message": exc.message}, exc.status)
    except LedgerError as exc:
        return _reply({"error": exc.error, "message": exc.message}, exc.status)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        message = f"ledger not reachable: {exc or type(exc).__name__}"
        return _reply({"error": "ledger_unreachable", "message": message}, 502)


async def faucet(request: web.Request) -> web.Response:
    return await _run_form(request, "faucet")


async def send(request: web.Request) -> web.Response:
    return await _run_form(request, "send")


async def health(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD_KEY]
    return _reply(
        {
            "status": "ok",
            "network": dashboard.network.name,
            "ledgers": len(dashboard.network.ledgers),
            "connectors": len(dashboard.network.connectors),
            "pages": dashboard.state.subscriber_count,
        }
    )


async def state(request: web.Request) -> web.Response:
    return _reply(request.app[DASHBOARD_KEY].state.snapshot())


def _sse(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the whole picture first, then every delta as it happens."""
    live = request.app[DASHBOARD_KEY].state
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    sub = live.subscribe()
    try:
        await response.write(b"retry: 1000\n\n")
        await response.write(_sse("snapshot", {"type": "snapshot", "state": live.snapshot()}))
        while True:
            try:
                delta = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if delta is None:
                break
            await response.write(_sse(str(delta["type"]), delta))
    except (ConnectionResetError, aiohttp.ClientConnectionResetError):
        pass
    finally:
        live.unsubscribe(sub)
    return response


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html", headers={"Cache-Control": "no-cache"})


async def directory(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD_KEY]
    return web.Response(text=directory_html(dashboard.network), content_type="text/html")


async def directory_as_json(request: web.Request) -> web.Response:
    return _reply(directory_json(request.app[DASHBOARD_KEY].network))


def create_dashboard_app(
    network: NetworkView,
    *,
    wallet: Wallet | None = None,
    clock: Clock | None = None,
    payer_factory: PayerFactory = escrow_payer,
    intervals: WatchIntervals | None = None,
) -> web.Application:
    """The dashboard as an aiohttp application; it starts watching when the app starts.

    `wallet` holds the accounts the forms act as (default: a fresh key, in memory only);
    `payer_factory` builds the send form's `Payer` for each network description.
    """
    dashboard = Dashboard(
        network,
        wallet=wallet or Wallet(secrets.token_bytes(32)),
        clock=clock or SystemClock(),
        payer_factory=payer_factory,
        intervals=intervals or WatchIntervals(),
    )
    app = web.Application(client_max_size=MAX_FORM_BODY)
    app[DASHBOARD_KEY] = dashboard

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await dashboard.start()
        yield
        await dashboard.stop()

    async def end_streams(app: web.Application) -> None:
        dashboard.state.close_subscribers()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(end_streams)
    r = app.router
    r.add_get("/", index)
    r.add_get("/health", health)
    r.add_get("/api/state", state)
    r.add_get("/events", events)
    r.add_post("/api/faucet", faucet)
    r.add_post("/api/send", send)
    r.add_get("/directory", directory)
    r.add_get("/directory.json", directory_as_json)
    r.add_static("/static/", static_dir(), append_version=False)
    return app


def dashboard_of(app: web.Application) -> Dashboard:
    return app[DASHBOARD_KEY]
