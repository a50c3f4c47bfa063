"""`LedgerClient`: the async Python client of a ledger server; typed results and errors.

Every write takes an optional idempotency `request_id` (a fresh one when omitted); send
the same id again after a timeout or crash and the ledger applies the write once.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

from ilpnet.ledger.errors import LedgerError, Unauthorized, error_from_json
from ilpnet.ledger.models import (
    Account,
    Books,
    Channel,
    Escrow,
    Event,
    Json,
    LedgerInfo,
    Transfer,
    format_time,
)


def new_request_id() -> str:
    return uuid.uuid4().hex


class LedgerClient:
    """Talks to one ledger, optionally as one account (`account` + `secret`)."""

    def __init__(
        self,
        url: str,
        account: str | None = None,
        secret: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.account = account
        self._secret = secret
        self._own_session = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def as_account(self, account: str, secret: str) -> LedgerClient:
        """A client for another account sharing this one's connection pool."""
        return LedgerClient(self.url, account, secret, session=self.session)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    def _auth(self) -> dict[str, str]:
        if self.account is None or self._secret is None:
            raise Unauthorized("this client has no account credentials")
        return {"Authorization": f"Bearer {self.account}:{self._secret}"}

    async def _call(
        self, method: str, path: str, body: Json | None = None, *, auth: bool = True
    ) -> Json:
        headers = self._auth() if auth else {}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"))
        async with self.session.request(
            method, self.url + path, data=data, headers=headers
        ) as resp:
            raw = await resp.read()
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            if resp.status >= 400:
                raise error_from_json(resp.status, parsed)
            if not isinstance(parsed, dict):
                raise LedgerError(f"{method} {path}: answer is not a JSON object")
            return parsed

    # ---- open endpoints -----------------------------------------------------------------

    async def health(self) -> bool:
        return (await self._call("GET", "/health", auth=False)).get("status") == "ok"

    async def status(self) -> Json:
        """The health answer with the writer's counters (commits, writes, busy seconds)."""
        return await self._call("GET", "/health", auth=False)

    async def info(self) -> LedgerInfo:
        return LedgerInfo.from_json(await self._call("GET", "/info", auth=False))

    async def books(self) -> Books:
        return Books.from_json(await self._call("GET", "/books", auth=False))

    async def create_account(self, name: str, secret: str) -> Account:
        """Create `name` (or confirm it exists with this secret)."""
        body = {"name": name, "secret": secret}
        return Account.from_json(await self._call("POST", "/accounts", body, auth=False))

    # ---- as an account ------------------------------------------------------------------

    def _me(self) -> str:
        if self.account is None:
            raise Unauthorized("this client has no account credentials")
        return self.account

    async def balance(self) -> int:
        return (await self.get_account()).balance

    async def get_account(self) -> Account:
        return Account.from_json(await self._call("GET", f"/accounts/{self._me()}"))

    async def faucet(self, amount: int, request_id: str | None = None) -> Account:
        """Mint `amount` test money into this account; returns it with the new balance."""
        body = {"id": request_id or new_request_id(), "amount": str(amount)}
        return Account.from_json(await self._call("POST", f"/accounts/{self._me()}/faucet", body))

    async def transfer(self, to: str, amount: int, request_id: str | None = None) -> Transfer:
        body = {"id": request_id or new_request_id(), "to": to, "amount": str(amount)}
        return Transfer.from_json(await self._call("POST", "/transfers", body))

    async def create_escrow(
        self,
        to: str,
        amount: int,
        condition: bytes,
        expires_at: datetime,
        memo: bytes = b"",
        request_id: str | None = None,
    ) -> Escrow:
        body = {
            "id": request_id or new_request_id(),
            "to": to,
            "amount": str(amount),
            "condition": condition.hex(),
            "expires_at": format_time(expires_at),
            "memo": base64.b64encode(memo).decode("ascii"),
        }
        return Escrow.from_json(await self._call("POST", "/escrows", body))

    async def fulfil_escrow(
        self, escrow_id: str, preimage: bytes, request_id: str | None = None
    ) -> Escrow:
        body = {"id": request_id or new_request_id(), "preimage": preimage.hex()}
        return Escrow.from_json(await self._call("POST", f"/escrows/{escrow_id}/fulfil", body))

    async def get_escrow(self, escrow_id: str) -> Escrow:
        return Escrow.from_json(await self._call("GET", f"/escrows/{escrow_id}"))

    async def open_channel(
        self,
        to: str,
        amount: int,
        settle_delay_ms: int,
        public_key: bytes,
        request_id: str | None = None,
    ) -> Channel:
        body = {
            "id": request_id or new_request_id(),
            "to": to,
            "amount": str(amount),
            "settle_delay_ms": settle_delay_ms,
            "public_key": public_key.hex(),
        }
        return Channel.from_json(await self._call("POST", "/channels", body))

    async def fund_channel(
        self, channel_id: str, amount: int, request_id: str | None = None
    ) -> Channel:
        body = {"id": request_id or new_request_id(), "amount": str(amount)}
        return Channel.from_json(await self._call("POST", f"/channels/{channel_id}/fund", body))

    async def redeem_claim(
        self,
        channel_id: str,
        amount: int,
        signature: bytes,
        *,
        close: bool = False,
        request_id: str | None = None,
    ) -> Channel:
        """As the receiver, cash a claim for cumulative `amount` (and close if asked)."""
        body = {
            "id": request_id or new_request_id(),
            "amount": str(amount),
            "signature": signature.hex(),
            "close": close,
        }
        return Channel.from_json(await self._call("POST", f"/channels/{channel_id}/claim", body))

    async def close_channel(self, channel_id: str, request_id: str | None = None) -> Channel:
        """Receiver: close now. Sender: request close, done after the settle delay."""
        body = {"id": request_id or new_request_id()}
        return Channel.from_json(await self._call("POST", f"/channels/{channel_id}/close", body))

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self._call("GET", f"/channels/{channel_id}"))

    async def events_page(self, after: int = 0, limit: int = 1000) -> list[Event]:
        """Stored notifications after sequence `after` (no WebSocket)."""
        j = await self._call("GET", f"/accounts/{self._me()}/events?after={after}&limit={limit}")
        return [Event.from_json(e) for e in j["events"]]

    def subscribe(self, after: int = 0, *, retry_delay: float = 0.1) -> EventSubscription:
        """This account's notifications after sequence `after`, live, across reconnects."""
        return EventSubscription(self, after, retry_delay)


class EventSubscription:
    """An async iterator of events; reconnects and resumes from `last_seq` on its own.

    `async for event in client.subscribe(after=n): ...` yields each event exactly once,
    in sequence order. Closing (or leaving the loop) drops the connection.
    """

    def __init__(self, client: LedgerClient, after: int, retry_delay: float) -> None:
        self._client = client
        self.last_seq = after
        self._retry_delay = retry_delay
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closed = False
        self.connects = 0

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def drop_connection(self) -> None:
        """Close the current socket (the iterator then reconnects): for tests and failover."""
        if self._ws is not None:
            await self._ws.close()

    async def _iterate(self) -> AsyncIterator[Event]:
        client = self._client
        path = f"{client.url}/accounts/{client._me()}/events"
        while not self._closed:
            try:
                async with client.session.ws_connect(
                    path,
                    params={"after": str(self.last_seq)},
                    headers=client._auth(),
                    heartbeat=20,
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    async for msg in ws:
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            break
                        event = Event.from_json(json.loads(msg.data))
                        if event.seq <= self.last_seq:
                            continue
                        self.last_seq = event.seq
                        yield event
            except aiohttp.WSServerHandshakeError as exc:
                if 400 <= exc.status < 500:
                    raise error_from_json(exc.status, {"message": exc.message}) from None
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            finally:
                self._ws = None
            if not self._closed:
                await asyncio.sleep(self._retry_delay)
