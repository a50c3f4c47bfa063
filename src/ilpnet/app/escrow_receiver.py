"""A receiver on any ledger: fulfils the escrows offered to its account whose condition it can
derive, and nothing else.

How a sender gets a condition the receiver can fulfil:

* The receiver has a **receive key** (32 bytes; by default derived from its ledger secret,
  printed at start; never the secret itself). Each payment's condition follows from the
  key, the receiver's address and a payment id carried in the Prepare's data (see
  `ilpnet.crypto.receive_keys`), so the receiver recomputes the fulfillment from the escrow
  it is offered.
* **Pre-shared key**: the receiver gives its receive key to the sender out of band; the
  sender picks ``pid`` and computes the condition itself (`condition_for`).
* **Invoice** (SPSP-like): `EscrowReceiver` with an HTTP port answers ``GET /invoice`` with
  ``{"destination", "payment_id", "condition", "data"}`` for a fresh ``pid``; the sender
  passes that URL as the destination (``ilpnet pay --to http://host:port/invoice``).
  The same port answers ``GET /health`` with what the receiver fulfilled so far.

Either way only the receiver's escrow can be fulfilled with the preimage, and the ledger
only lets the escrow's receiver fulfil it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from ilpnet.crypto.receive_keys import (
    PAYMENT_ID_LENGTH,
    condition_for,
    fulfillment_for,
    payment_data,
    payment_id_of,
    receive_key_from_secret,
)
from ilpnet.ledger import errors as ledger_errors
from ilpnet.ledger.client import EventSubscription, LedgerClient
from ilpnet.ledger.models import Escrow, EscrowState, EventType
from ilpnet.wire.errors import IlpError
from ilpnet.wire.packet import Prepare

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Invoice:
    destination: str
    payment_id: bytes
    condition: bytes

    @property
    def data(self) -> bytes:
        return payment_data(self.payment_id)

    def to_json(self) -> dict[str, str]:
        return {
            "destination": self.destination,
            "payment_id": self.payment_id.hex(),
            "condition": self.condition.hex(),
            "data": self.data.decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class Received:
    """One escrow the receiver fulfilled."""

    escrow_id: str
    amount: int
    payment_id: bytes
    sender: str


OnPayment = Callable[[Received], Awaitable[None] | None]


class EscrowReceiver:
    """Watches one ledger account and fulfils the escrows meant for it."""

    def __init__(
        self,
        client: LedgerClient,
        *,
        receive_key: bytes | None = None,
        secret: str = "",
        on_payment: OnPayment | None = None,
    ) -> None:
        if client.account is None:
            raise ValueError("the receiver needs its ledger account and secret")
        self.client = client
        self.receive_key = receive_key or receive_key_from_secret(secret)
        self.on_payment = on_payment
        self.address = ""
        self.received: list[Received] = []
        self._got = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._sub: EventSubscription | None = None
        self._runner: web.AppRunner | None = None
        self.invoice_url = ""

    async def start(self, http_port: int | None = None, host: str = "127.0.0.1") -> None:
        info = await self.client.info()
        assert self.client.account is not None
        self.address = f"{info.name}.{self.client.account}"
        await self.client.get_account()
        self._task = asyncio.create_task(self._watch(), name="escrow-receiver")
        if http_port is not None:
            app = web.Application()
            app.router.add_get("/invoice", self._invoice)
            app.router.add_get("/health", self._health)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, host, http_port)
            await site.start()
            port = self._runner.addresses[0][1]
            self.invoice_url = f"http://{host}:{port}/invoice"

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._runner is not None:
            await self._runner.cleanup()

    def invoice(self) -> Invoice:
        pid = os.urandom(PAYMENT_ID_LENGTH)
        return Invoice(self.address, pid, condition_for(self.receive_key, self.address, pid))

    async def _invoice(self, request: web.Request) -> web.Response:
        return web.json_response(self.invoice().to_json())

    async def _health(self, request: web.Request) -> web.Response:
        """Up, where, and what this process fulfilled (the latest 50 payments)."""
        return web.json_response(
            {
                "status": "ok",
                "address": self.address,
                "received": len(self.received),
                "total": str(sum(r.amount for r in self.received)),
                "payments": [
                    {"escrow": r.escrow_id, "amount": str(r.amount), "sender": r.sender}
                    for r in self.received[-50:]
                ],
            }
        )

    async def wait_received(self, count: int) -> list[Received]:
        """Return once `count` escrows were fulfilled (callers bound it with a timeout)."""
        async with self._got:
            await self._got.wait_for(lambda: len(self.received) >= count)
        return self.received

    async def _watch(self) -> None:
        sub = self.client.subscribe(0)
        self._sub = sub
        async for event in sub:
            escrow = event.escrow
            if (
                event.type is EventType.ESCROW_CREATED
                and escrow is not None
                and escrow.receiver == self.client.account
            ):
                try:
                    await self._offered(escrow)
                except (IlpError, OSError) as err:
                    log.warning("receiver.fulfil_failed", escrow=escrow.id, error=repr(err))

    def preimage_of(self, escrow: Escrow) -> tuple[bytes, bytes] | None:
        """(fulfillment, payment id) if this escrow is for us and we can fulfil it."""
        try:
            prepare = Prepare.decode(escrow.memo)
        except IlpError:
            return None
        pid = payment_id_of(prepare.data)
        if pid is None or not (
            prepare.destination == self.address
            or prepare.destination.startswith(self.address + ".")
        ):
            return None
        fulfillment = fulfillment_for(self.receive_key, prepare.destination, pid)
        if hashlib.sha256(fulfillment).digest() != escrow.condition:
            return None
        return fulfillment, pid

    async def _offered(self, escrow: Escrow) -> None:
        found = self.preimage_of(escrow)
        if found is None:
            log.info("receiver.not_ours", escrow=escrow.id)
            return
        fulfillment, pid = found
        try:
            done = await self.client.fulfil_escrow(
                escrow.id, fulfillment, request_id=f"fulfil:{escrow.id}"
            )
        except (ledger_errors.AlreadyFulfilled, ledger_errors.EscrowExpired) as err:
            log.info("receiver.skipped", escrow=escrow.id, reason=err.message)
            return
        if done.state is not EscrowState.FULFILLED:
            return
        got = Received(escrow.id, escrow.amount, pid, escrow.sender)
        log.info("receiver.fulfilled", escrow=escrow.id, amount=escrow.amount)
        if self.on_payment is not None:
            maybe = self.on_payment(got)
            if maybe is not None:
                await maybe
        async with self._got:
            self.received.append(got)
            self._got.notify_all()


async def receive_on_ledger(
    ledger_url: str,
    account: str,
    secret: str,
    *,
    receive_key: bytes | None = None,
    http_port: int | None = None,
    on_ready: Callable[[EscrowReceiver], None] | None = None,
    on_payment: OnPayment | None = None,
    stop: asyncio.Event | None = None,
) -> list[Received]:
    """Run a receiver until `stop` is set (forever if None); returns what it received.

    The account is created with `secret` if it does not exist yet."""
    async with LedgerClient(ledger_url, account, secret) as client:
        await client.create_account(account, secret)  # or confirm it exists
        receiver = EscrowReceiver(
            client, receive_key=receive_key, secret=secret, on_payment=on_payment
        )
        await receiver.start(http_port)
        try:
            if on_ready is not None:
                on_ready(receiver)
            await (stop or asyncio.Event()).wait()
        finally:
            await receiver.close()
        return receiver.received


def invoice_from_json(j: dict[str, Any]) -> Invoice:
    """Parse an invoice answer; ValueError naming what is wrong."""
    try:
        invoice = Invoice(
            destination=str(j["destination"]),
            payment_id=bytes.fromhex(str(j["payment_id"])),
            condition=bytes.fromhex(str(j["condition"])),
        )
    except (KeyError, ValueError) as err:
        raise ValueError(f"not an escrow invoice: {err}") from None
    if len(invoice.condition) != 32 or len(invoice.payment_id) != PAYMENT_ID_LENGTH:
        raise ValueError("not an escrow invoice: bad condition or payment id length")
    return invoice
