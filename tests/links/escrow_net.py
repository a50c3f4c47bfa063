"""Three real ledger processes (different assets, scales and fees) and an escrow connector
serving all three, for the escrow link, deposit and payment tests.

The ledgers run for the whole session (each test opens accounts with fresh names); each
test gets its own connector accounts, state directory and `EscrowConnector`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from ilpnet.clock import SystemClock
from ilpnet.connector.escrow_ledgers import LedgerAccountConfig
from ilpnet.connector.escrow_service import EscrowConnector, EscrowConnectorConfig
from ilpnet.connector.public_api import add_public_routes
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import Books, Escrow, EscrowState
from ilpnet.wire.packet import Prepare
from tests.ledger.servers import LedgerProcess, start_ledger

# name, asset, scale, fee: three assets, three scales, three fees
LEDGERS = (
    ("test.xrp", "XRP", 6, 10),
    ("test.eth", "ETH", 9, 1_000),
    ("test.usd", "USD", 2, 1),
)
CONNECTOR_FUNDS = {"test.xrp": 500 * 10**6, "test.eth": 500 * 10**9, "test.usd": 500 * 10**2}


@dataclass
class Ledgers:
    processes: dict[str, LedgerProcess]

    def url(self, name: str) -> str:
        return self.processes[name].url

    def client(self, name: str) -> LedgerClient:
        return LedgerClient(self.url(name))


def start_three(directory: Path) -> dict[str, LedgerProcess]:
    started: dict[str, LedgerProcess] = {}
    try:
        for name, asset, scale, fee in LEDGERS:
            started[name] = start_ledger(
                directory / name, name=name, asset=asset, scale=scale, fee=fee
            )
    except BaseException:
        for p in started.values():
            p.stop()
        raise
    return started


@pytest.fixture(scope="session")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledgers]:
    processes = start_three(tmp_path_factory.mktemp("ledgers"))
    try:
        yield Ledgers(processes)
    finally:
        for p in processes.values():
            p.stop()


def fresh(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:8]}"


def secret_of(name: str) -> str:
    return f"{name}-secret-0123"


async def open_account(url: str, name: str, faucet: int = 0) -> LedgerClient:
    """Create `name` on the ledger at `url`, fund it, return a client acting as it."""
    me = LedgerClient(url, name, secret_of(name))
    await me.create_account(name, secret_of(name))
    if faucet:
        await me.faucet(faucet)
    return me


def connector_config(ledgers: Ledgers, state: Path | None, account: str) -> EscrowConnectorConfig:
    return EscrowConnectorConfig(
        address="test.conn",
        ledgers=tuple(
            LedgerAccountConfig(
                id=name.removeprefix("test."),
                url=ledgers.url(name),
                account=account,
                secret=secret_of(account),
            )
            for name, *_ in LEDGERS
        ),
        state_dir=state,
        min_message_window=timedelta(seconds=2),
        max_hold_time=timedelta(seconds=30),
        ledger_margin=timedelta(milliseconds=500),
    )


async def fund_connector(ledgers: Ledgers, account: str) -> None:
    for name, *_ in LEDGERS:
        async with await open_account(ledgers.url(name), account) as me:
            await me.faucet(CONNECTOR_FUNDS[name])


@asynccontextmanager
async def public_api(service: EscrowConnector) -> AsyncIterator[str]:
    """The connector's public API on a free loopback port; yields its base URL."""
    app = web.Application()
    add_public_routes(app, service.ledgers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def connector(ledgers: Ledgers, tmp_path: Path) -> AsyncIterator[EscrowConnector]:
    account = fresh("conn")
    await fund_connector(ledgers, account)
    service = EscrowConnector(connector_config(ledgers, tmp_path / "conn", account), SystemClock())
    await service.start()
    try:
        yield service
    finally:
        await service.close()


def hashlock() -> tuple[bytes, bytes]:
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()


def wall_clock_in(seconds: float) -> datetime:
    now = datetime.now(UTC) + timedelta(seconds=seconds)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


async def escrow_payment(
    sender: LedgerClient,
    connector_account: str,
    amount: int,
    destination: str,
    condition: bytes,
    seconds: float = 20,
    data: bytes = b"",
) -> Escrow:
    """The sender's half of a payment: an escrow to the connector with the Prepare as memo."""
    expires_at = wall_clock_in(seconds)
    prepare = Prepare(amount, expires_at, condition, destination, data)
    return await sender.create_escrow(
        connector_account, amount, condition, expires_at, prepare.encode()
    )


async def incoming_escrow(receiver: LedgerClient, within: float = 10) -> Escrow:
    """The first escrow offered to `receiver` (from its live notifications)."""

    async def find() -> Escrow:
        sub = receiver.subscribe(0)
        try:
            async for event in sub:
                escrow = event.escrow
                if escrow is not None and escrow.receiver == receiver.account:
                    return escrow
        finally:
            await sub.close()
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(find(), within)


async def escrow_ends(client: LedgerClient, escrow_id: str, within: float = 15) -> Escrow:
    """Wait (bounded) until the escrow is no longer pending, by the party's notifications."""

    async def find() -> Escrow:
        sub = client.subscribe(0)
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
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(find(), within)


async def all_books(ledgers: Ledgers) -> dict[str, Books]:
    out = {}
    for name, *_ in LEDGERS:
        async with ledgers.client(name) as c:
            out[name] = await c.books()
    return out


async def new_account(url: str, name: str, faucet: int = 0) -> None:
    """Create (and fund) an account others will act as."""
    async with await open_account(url, name, faucet):
        pass
