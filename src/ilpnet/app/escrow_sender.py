"""Pay from an account on one test ledger to anyone on any ledger, with on-ledger escrows.

`pay_from_ledger` quotes at the connector, makes sure the sender has a deposit there (pays
one if asked), escrows the source amount to the connector's account with the ILP Prepare
in the memo, and waits for the ledger to say how the escrow ended: fulfilled (a receipt)
or rolled back (`PaymentFailed` with the connector's reason and what the deposit was
charged). Where the condition comes from: see `ilpnet.app.escrow_receiver`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import aiohttp

from ilpnet.app.escrow_receiver import Invoice, invoice_from_json
from ilpnet.clock import Clock, SystemClock
from ilpnet.crypto.receive_keys import PAYMENT_ID_LENGTH, condition_for
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import Escrow, EscrowState
from ilpnet.wire.address import is_valid_address
from ilpnet.wire.packet import Prepare

STATUS_POLL_SECONDS = 0.2
"""How often the sender asks the connector whether it gave up on the payment."""
ENDED_GRACE = timedelta(seconds=10)
"""How long after its expiry the sender waits for the ledger to report its escrow's end."""


class PaymentError(Exception):
    """The payment could not be made; the message says why (one line)."""


class PaymentFailed(PaymentError):
    """The escrow rolled back: nothing was delivered, the amount came back to the sender."""

    def __init__(self, message: str, charge: int) -> None:
        super().__init__(message)
        self.charge = charge


@dataclass(frozen=True, slots=True)
class EscrowQuote:
    source_ledger: str
    source_asset: str
    source_scale: int
    source_amount: int
    destination: str
    destination_asset: str
    destination_scale: int
    destination_amount: int
    connector_account: str
    sender_fee: int
    rollback_charge: int
    min_expiry_ms: int

    @classmethod
    def from_json(cls, j: dict[str, Any]) -> EscrowQuote:
        s, d = j["source"], j["destination"]
        return cls(
            source_ledger=s["ledger"],
            source_asset=s["asset_code"],
            source_scale=int(s["asset_scale"]),
            source_amount=int(s["amount"]),
            destination=d["address"],
            destination_asset=d["asset_code"],
            destination_scale=int(d["asset_scale"]),
            destination_amount=int(d["amount"]),
            connector_account=j["connector_account"],
            sender_fee=int(j["sender_fee"]),
            rollback_charge=int(j["rollback_charge"]),
            min_expiry_ms=int(j["min_expiry_ms"]),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    escrow_id: str
    source_asset: str
    source_scale: int
    sent: int
    destination_asset: str
    destination_scale: int
    delivered: int
    fees: int
    """What the source ledger charged the sender for its escrow (source units)."""
    seconds: float
    delivered_exact: bool = True
    """False when a later connector paid the receiver: `delivered` is then as quoted (the
    first connector does not see the last escrow; the receiver does)."""

    @property
    def rate(self) -> Fraction:
        """Delivered per sent, in whole units of each asset."""
        return Fraction(self.delivered, 10**self.destination_scale) / Fraction(
            self.sent, 10**self.source_scale
        )


Progress = Callable[[str], None]
Confirm = Callable[[EscrowQuote], Awaitable[bool] | bool]


async def call_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    token: str = "",
) -> dict[str, Any]:
    """One call to a connector's public API (or an invoice URL): its JSON object, or
    `PaymentError` with the API's error code and message, or saying it is unreachable."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with session.request(method, url, params=params, json=body, headers=headers) as resp:
            parsed: Any = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise PaymentError(f"cannot reach {url}: {err}") from None
    if not isinstance(parsed, dict):
        raise PaymentError(f"{url} did not answer with a JSON object")
    if resp.status >= 400:
        raise PaymentError(f"{parsed.get('error', resp.status)}: {parsed.get('message', '')}")
    return parsed


async def _get_json(session: aiohttp.ClientSession, url: str, **params: str) -> dict[str, Any]:
    return await call_json(session, "GET", url, params=params)


def invoice_url_of_pointer(pointer: str) -> str:
    """``$host[:port]/path`` → ``https://host[:port]/path`` (``http`` on loopback, where the
    testnet runs); a pointer without a path names ``/invoice``."""
    rest = pointer[1:]
    host, slash, path = rest.partition("/")
    if not host:
        raise PaymentError(f"not a payment pointer: {pointer!r}")
    loopback = host.split(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]")
    scheme = "http" if loopback else "https"
    return f"{scheme}://{host}/{path if slash and path else 'invoice'}"


async def resolve_destination(
    session: aiohttp.ClientSession, to: str, receive_key: bytes | None
) -> Invoice:
    """An invoice URL (or pointer) is fetched; an ILP address needs the receiver's key."""
    if to.startswith("$"):
        to = invoice_url_of_pointer(to)
    if to.startswith(("http://", "https://")):
        try:
            return invoice_from_json(await _get_json(session, to))
        except ValueError as err:
            raise PaymentError(str(err)) from None
    if not is_valid_address(to):
        raise PaymentError(f"not an ILP address or invoice URL: {to!r}")
    if receive_key is None:
        raise PaymentError(
            "paying an ILP address needs the receiver's receive key (--receive-key); "
            "or pay its invoice URL"
        )
    pid = os.urandom(PAYMENT_ID_LENGTH)
    return Invoice(to, pid, condition_for(receive_key, to, pid))


async def quote_payment(
    connector_url: str, source_ledger: str, destination: str, amount: int, *, deliver: bool
) -> EscrowQuote:
    param = "destination_amount" if deliver else "source_amount"
    async with aiohttp.ClientSession() as session:
        body = await _get_json(
            session,
            connector_url.rstrip("/") + "/quote",
            **{"from": source_ledger, "to": destination, param: str(amount)},
        )
    return EscrowQuote.from_json(body)


async def pay_from_ledger(
    ledger_url: str,
    account: str,
    secret: str,
    connector_url: str,
    to: str,
    amount: int,
    *,
    deliver: bool = False,
    receive_key: bytes | None = None,
    deposit: int = 0,
    expiry: timedelta = timedelta(seconds=30),
    confirm: Confirm | None = None,
    progress: Progress | None = None,
    clock: Clock | None = None,
    wait_rollback: bool = False,
) -> Receipt:
    """Pay `amount` (source units; destination units if `deliver`) to `to`.

    A payment the connector refuses or gets rejected raises `PaymentFailed` at once (the
    escrow then rolls back at its expiry), or, with `wait_rollback`, once it rolled back
    (the error then says what the deposit was charged)."""
    clock = clock or SystemClock()
    say = progress or (lambda _msg: None)
    base = connector_url.rstrip("/")
    if amount <= 0:
        raise PaymentError(f"amount must be a positive integer, got {amount}")
    started = clock.monotonic()
    async with (
        aiohttp.ClientSession() as session,
        LedgerClient(ledger_url, account, secret, session=session) as me,
    ):
        try:
            info = await me.info()
            balance = await me.balance()
        except (aiohttp.ClientError, OSError) as err:
            raise PaymentError(f"cannot reach ledger {ledger_url}: {err}") from None
        invoice = await resolve_destination(session, to, receive_key)
        param = "destination_amount" if deliver else "source_amount"
        q = EscrowQuote.from_json(
            await _get_json(
                session,
                base + "/quote",
                **{"from": info.name, "to": invoice.destination, param: str(amount)},
            )
        )
        say(
            f"quote: send {q.source_amount} {q.source_asset} (scale {q.source_scale}), "
            f"deliver {q.destination_amount} {q.destination_asset} "
            f"(scale {q.destination_scale}); ledger fee {q.sender_fee}; "
            f"charge if it rolls back {q.rollback_charge}"
        )
        if confirm is not None:
            ok = confirm(q)
            if not isinstance(ok, bool):
                ok = await ok
            if not ok:
                raise PaymentError("payment cancelled")
        if q.source_amount + q.sender_fee > balance:
            raise PaymentError(
                f"balance {balance} is less than {q.source_amount} + fee {q.sender_fee}"
            )
        held = await _get_json(session, f"{base}/deposits/{info.name}/{account}")
        available = int(held["available"])
        if available < max(q.rollback_charge, 1):
            if deposit <= 0:
                raise PaymentError(
                    f"no deposit at the connector (available {available}, a roll-back "
                    f"costs {q.rollback_charge}); pay one with --deposit AMOUNT"
                )
            await me.transfer(q.connector_account, deposit)
            say(f"deposit: paid {deposit} to {q.connector_account}")
        expires_at = _ms(clock.now() + max(expiry, timedelta(milliseconds=q.min_expiry_ms)))
        prepare = Prepare(
            q.source_amount, expires_at, invoice.condition, invoice.destination, invoice.data
        )
        escrow = await me.create_escrow(
            q.connector_account,
            q.source_amount,
            invoice.condition,
            expires_at,
            prepare.encode(),
        )
        say(f"escrow {escrow.id} created, expires {expires_at.isoformat()}")
        ended, status = await _outcome(
            me, session, f"{base}/payments/{info.name}/{escrow.id}", escrow, clock, wait_rollback
        )
        if ended is None or ended.state is not EscrowState.FULFILLED:
            reason = f"{status.get('code', '')} {status.get('message', '')}".strip()
            charge = int(status.get("charge", "0"))
            if ended is None:
                raise PaymentFailed(
                    f"payment refused ({reason}); the escrow rolls back at "
                    f"{expires_at.isoformat()}",
                    charge,
                )
            raise PaymentFailed(
                f"payment rolled back ({reason or 'escrow expired'}); deposit charged {charge}",
                charge,
            )
        out = status.get("outgoing") or {}
        exact = "amount" in out
        say("fulfilled")
        return Receipt(
            escrow_id=escrow.id,
            source_asset=q.source_asset,
            source_scale=q.source_scale,
            sent=q.source_amount,
            destination_asset=q.destination_asset,
            destination_scale=q.destination_scale,
            delivered=int(out["amount"]) if exact else q.destination_amount,
            fees=escrow.fee,
            seconds=clock.monotonic() - started,
            delivered_exact=exact,
        )


def _ms(t: datetime) -> datetime:
    t = t.astimezone(UTC)
    return t.replace(microsecond=t.microsecond - t.microsecond % 1000)


async def _outcome(
    me: LedgerClient,
    session: aiohttp.ClientSession,
    status_url: str,
    escrow: Escrow,
    clock: Clock,
    wait_rollback: bool,
) -> tuple[Escrow | None, dict[str, Any]]:
    """How the escrow ended (None: still pending, but the connector gave up on it) and the
    connector's account of the payment. Bounded: past the escrow's expiry (plus a grace)
    the ledger is asked directly."""
    ended = asyncio.ensure_future(_ended(me, escrow.id))
    deadline = escrow.expires_at + ENDED_GRACE
    try:
        while not ended.done():
            if not wait_rollback:
                status = await _status(session, status_url)
                if status.get("state") in ("refused", "rejected"):
                    return None, status
            if clock.now() > deadline:
                final = await me.get_escrow(escrow.id)
                if final.state is EscrowState.PENDING:
                    raise PaymentError(f"the ledger has not ended escrow {escrow.id} by now")
                return final, await _status(session, status_url)
            await asyncio.wait({ended}, timeout=STATUS_POLL_SECONDS)
        result = await ended
    finally:
        ended.cancel()
    return result, await _status(session, status_url)


async def _status(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """The connector's view of the payment ({} until its worker has seen the escrow)."""
    try:
        return await _get_json(session, url)
    except PaymentError:
        return {}


async def _ended(me: LedgerClient, escrow_id: str) -> Escrow:
    """The escrow once it is fulfilled or rolled back (from the sender's notifications)."""
    sub = me.subscribe(0)
    try:
        async for event in sub:
            escrow = event.escrow
            if (
                escrow is not None
                and escrow.id == escrow_id
                and escrow.state is not EscrowState.PENDING
            ):
                return escrow
    finally:
        await sub.close()
    raise PaymentError("ledger notifications ended")  # pragma: no cover


async def withdraw_deposit(connector_url: str, ledger: str, account: str) -> int:
    async with aiohttp.ClientSession() as session:
        body = await call_json(
            session, "POST", f"{connector_url.rstrip('/')}/deposits/{ledger}/{account}/withdraw"
        )
    return int(body["withdrawn"])


async def deposit_status(connector_url: str, ledger: str, account: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        return await _get_json(session, f"{connector_url.rstrip('/')}/deposits/{ledger}/{account}")
