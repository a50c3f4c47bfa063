"""The ledger's HTTP + WebSocket API (aiohttp).

Authentication: every write (and every private read) carries
`Authorization: Bearer <account>:<secret>`; the secret is the one the account was created
with. Only `POST /accounts`, `GET /health`, `GET /info` and `GET /books` are open.

    GET  /health                          {"status": "ok", "name": ...}
    GET  /info                            name, asset_code, asset_scale, fee, ...
    GET  /books                           the conservation check
    POST /accounts                        {"name", "secret"}
    GET  /accounts/{name}                 balance (as that account)
    POST /accounts/{name}/faucet          {"id", "amount"}
    GET  /accounts/{name}/events?after=N  WebSocket (or a JSON page without upgrade)
    POST /transfers                       {"id", "to", "amount"}
    POST /escrows                         {"id", "to", "amount", "condition", "expires_at", "memo"}
    GET  /escrows/{id}
    POST /escrows/{id}/fulfil             {"id", "preimage"}
    POST /channels                        {"id", "to", "amount", "settle_delay_ms", "public_key"}
    GET  /channels/{id}
    POST /channels/{id}/fund              {"id", "amount"}
    POST /channels/{id}/claim             {"id", "amount", "signature", "close"}
    POST /channels/{id}/close             {"id"}

Errors: 4xx/5xx with `{"error": "<code>", "message": "..."}` (see `errors.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from ilpnet.clock import Clock, SystemClock
from ilpnet.ledger import errors
from ilpnet.ledger.models import Json
from ilpnet.ledger.request_body import MAX_MEMO, Body, check_object_id
from ilpnet.ledger.service import MAX_SETTLE_DELAY_MS, Ledger, LedgerConfig

log = structlog.get_logger(__name__)

LEDGER_KEY = web.AppKey("ledger", Ledger)
MAX_BODY = 64 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def reply(value: Json, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(value), status=status, content_type="application/json")


def error_reply(err: errors.LedgerError) -> web.Response:
    return reply(err.to_json(), err.status)


HTTP_ERRORS: dict[int, type[errors.LedgerError]] = {
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.LedgerError as err:
        return error_reply(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        cls = HTTP_ERRORS.get(exc.status, errors.InvalidRequest)
        return error_reply(cls(f"{exc.reason}: {request.method} {request.path}"))
    except Exception:
        log.exception("ledger.request_failed", method=request.method, path=request.path)
        return error_reply(errors.InternalError("internal error; the write was not applied"))


def _ledger(request: web.Request) -> Ledger:
    return request.app[LEDGER_KEY]


def _authenticated(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or ":" not in token:
        raise errors.Unauthorized("send Authorization: Bearer <account>:<secret>")
    name, _, secret = token.partition(":")
    return _ledger(request).authenticate(name, secret)


def _as(request: web.Request, name: str) -> str:
    account = _authenticated(request)
    if account != name:
        raise errors.Forbidden(f"authenticated as {account!r}, not {name!r}")
    return account


async def _body(request: web.Request) -> Body:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.PayloadTooLarge(f"request body over {MAX_BODY} bytes") from None
    try:
        return Body(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.InvalidRequest(f"body is not JSON: {exc}") from None


async def health(request: web.Request) -> web.Response:
    ledger = _ledger(request)
    queue = ledger.queue
    return reply(
        {
            "status": "ok",
            "name": ledger.info.name,
            "commits": queue.batches,
            "writes": queue.operations,
            "commit_busy_seconds": round(queue.busy_seconds, 3),
        }
    )


async def info(request: web.Request) -> web.Response:
    return reply(_ledger(request).info.to_json())


async def books(request: web.Request) -> web.Response:
    return reply(_ledger(request).books().to_json())


async def create_account(request: web.Request) -> web.Response:
    body = await _body(request)
    name = body.name("name")
    secret = body.text("secret", max_len=256)
    if len(secret) < 8:
        raise errors.InvalidRequest("field 'secret' must be at least 8 characters")
    return reply(await _ledger(request).create_account(name, secret))


async def get_account(request: web.Request) -> web.Response:
    name = _as(request, request.match_info["name"])
    return reply(_ledger(request).account(name))


async def faucet(request: web.Request) -> web.Response:
    name = _as(request, request.match_info["name"])
    body = await _body(request)
    client = request.remote or "unknown"
    result = await _ledger(request).mint(name, body.request_id(), body.amount(), client)
    return reply(result)


async def transfer(request: web.Request) -> web.Response:
    sender = _authenticated(request)
    body = await _body(request)
    return reply(
        await _ledger(request).transfer(sender, body.request_id(), body.name("to"), body.amount())
    )


async def create_escrow(request: web.Request) -> web.Response:
    sender = _authenticated(request)
    body = await _body(request)
    result = await _ledger(request).create_escrow(
        sender,
        body.request_id(),
        receiver=body.name("to"),
        amount=body.amount(),
        condition=body.hex_bytes("condition", 32),
        expires_at=body.time("expires_at"),
        memo=body.base64_bytes("memo", MAX_MEMO),
    )
    return reply(result)


async def get_escrow(request: web.Request) -> web.Response:
    account = _authenticated(request)
    escrow_id = check_object_id(request.match_info["id"], "escrow")
    return reply(_ledger(request).escrow(account, escrow_id))


async def fulfil_escrow(request: web.Request) -> web.Response:
    account = _authenticated(request)
    escrow_id = check_object_id(request.match_info["id"], "escrow")
    body = await _body(request)
    result = await _ledger(request).fulfil_escrow(
        account, body.request_id(), escrow_id, body.hex_bytes("preimage", 32)
    )
    return reply(result)


async def open_channel(request: web.Request) -> web.Response:
    sender = _authenticated(request)
    body = await _body(request)
    result = await _ledger(request).open_channel(
        sender,
        body.request_id(),
        receiver=body.name("to"),
        amount=body.amount(),
        settle_delay_ms=body.integer("settle_delay_ms", 0, MAX_SETTLE_DELAY_MS),
        public_key=body.hex_bytes("public_key", 32),
    )
    return reply(result)


async def get_channel(request: web.Request) -> web.Response:
    account = _authenticated(request)
    channel_id = check_object_id(request.match_info["id"], "channel")
    return reply(_ledger(request).channel(account, channel_id))


async def fund_channel(request: web.Request) -> web.Response:
    account = _authenticated(request)
    channel_id = check_object_id(request.match_info["id"], "channel")
    body = await _body(request)
    return reply(
        await _ledger(request).fund_channel(account, body.request_id(), channel_id, body.amount())
    )


async def redeem_claim(request: web.Request) -> web.Response:
    account = _authenticated(request)
    channel_id = check_object_id(request.match_info["id"], "channel")
    body = await _body(request)
    result = await _ledger(request).redeem_claim(
        account,
        body.request_id(),
        channel_id,
        amount=body.amount(),
        signature=body.hex_bytes("signature", 64),
        close=body.flag("close"),
    )
    return reply(result)


async def close_channel(request: web.Request) -> web.Response:
    account = _authenticated(request)
    channel_id = check_object_id(request.match_info["id"], "channel")
    body = await _body(request)
    return reply(await _ledger(request).close_channel(account, body.request_id(), channel_id))


def _query_int(request: web.Request, key: str, default: int, high: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > high:
        raise errors.InvalidRequest(f"query {key!r} must be an integer in [0, {high}]")
    return int(raw)


async def events(request: web.Request) -> web.StreamResponse:
    """Notifications of one account from `after` on: a WebSocket, or a JSON page."""
    ledger = _ledger(request)
    account = _as(request, request.match_info["name"])
    after = _query_int(request, "after", 0, 2**62)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        limit = _query_int(request, "limit", 1000, 1000)
        page = ledger.store.events(account, after, limit)
        return reply({"events": [e.to_json() for e in page]})
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    sub = ledger.hub.subscribe(account)

    async def watch_close() -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                break
        sub.close()

    watcher = asyncio.create_task(watch_close())
    try:
        last = after
        while True:
            page = ledger.store.events(account, last, 500)
            for event in page:
                await ws.send_str(_dumps(event.to_json()))
                last = event.seq
            if len(page) < 500:
                break
        while not ws.closed:
            queued = await sub.queue.get()
            if queued is None:
                break
            if queued.seq <= last:
                continue
            await ws.send_str(_dumps(queued.to_json()))
            last = queued.seq
    except (ConnectionError, RuntimeError):
        pass
    finally:
        ledger.hub.unsubscribe(sub)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await ws.close()
    return ws


def create_app(ledger: Ledger) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    app[LEDGER_KEY] = ledger
    r = app.router
    r.add_get("/health", health)
    r.add_get("/info", info)
    r.add_get("/books", books)
    r.add_post("/accounts", create_account)
    r.add_get("/accounts/{name}", get_account)
    r.add_post("/accounts/{name}/faucet", faucet)
    r.add_get("/accounts/{name}/events", events)
    r.add_post("/transfers", transfer)
    r.add_post("/escrows", create_escrow)
    r.add_get("/escrows/{id}", get_escrow)
    r.add_post("/escrows/{id}/fulfil", fulfil_escrow)
    r.add_post("/channels", open_channel)
    r.add_get("/channels/{id}", get_channel)
    r.add_post("/channels/{id}/fund", fund_channel)
    r.add_post("/channels/{id}/claim", redeem_claim)
    r.add_post("/channels/{id}/close", close_channel)
    return app


class LedgerServer:
    """A ledger serving HTTP in this process: `async with LedgerServer(...) as server:`.

    Port 0 picks a free port; `url` says where it listens.
    """

    def __init__(
        self,
        config: LedgerConfig,
        db_path: Path | str,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config
        self.db_path = db_path
        self.clock = clock or SystemClock()
        self.host = host
        self.port = port
        self.ledger: Ledger | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        ledger = Ledger(self.config, self.db_path, self.clock)
        await ledger.__aenter__()
        self.ledger = ledger
        runner = web.AppRunner(
            create_app(ledger), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            self.port = sock.getsockname()[1]
            await web.SockSite(runner, sock).start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self.ledger is not None:
            self.ledger.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.ledger is not None:
            await self.ledger.close()
            self.ledger = None

    async def __aenter__(self) -> LedgerServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(
    config: LedgerConfig,
    db_path: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[LedgerServer], None] = lambda _: None,
) -> None:
    """Run a ledger until SIGINT or SIGTERM, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with LedgerServer(config, db_path, host=host, port=port) as server:
        ready(server)
        await stop.wait()
