"""SIGKILL a real ledger in the middle of hundreds of concurrent writes, restart it on the
same file, re-send every request with its id, and check that nothing was lost or doubled."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.errors import EscrowExpired
from ilpnet.ledger.models import Escrow, EscrowState, EventType, Json, Transfer
from tests.ledger.parties import secret_of
from tests.ledger.servers import LedgerProcess, start_ledger_async

FEE = 1
ACCOUNTS = [f"acct{i:02d}" for i in range(16)]
START = 1_000_000
TRANSFERS = 300
ESCROWS = 150
SHORT_EXPIRY = 1.5  # seconds: these are never fulfilled and must roll back
KILL_AFTER = 160  # acknowledgements before the SIGKILL

pytestmark = pytest.mark.slow


@dataclass
class TransferOp:
    sender: str
    receiver: str
    amount: int
    id: str
    acked: Transfer | None = None
    final: Transfer | None = None


@dataclass
class EscrowOp:
    sender: str
    receiver: str
    amount: int
    id: str
    preimage: bytes
    expires_at: datetime
    fulfil: bool
    acked: Escrow | None = None
    acked_fulfil: Escrow | None = None
    final: Escrow | None = None
    final_fulfil: Escrow | None = None
    refused_expired: bool = False


@dataclass
class Plan:
    transfers: list[TransferOp] = field(default_factory=list)
    escrows: list[EscrowOp] = field(default_factory=list)


def make_plan(now: datetime) -> Plan:
    rnd = random.Random(20261124)
    plan = Plan()
    for i in range(TRANSFERS):
        a, b = rnd.sample(ACCOUNTS, 2)
        plan.transfers.append(TransferOp(a, b, rnd.randint(1, 500), f"t-{i}"))
    for i in range(ESCROWS):
        a, b = rnd.sample(ACCOUNTS, 2)
        fulfil = i % 3 != 0
        expires = now + timedelta(seconds=60 if fulfil else SHORT_EXPIRY)
        plan.escrows.append(
            EscrowOp(a, b, rnd.randint(1, 500), f"e-{i}", rnd.randbytes(32), expires, fulfil)
        )
    return plan


class Clients:
    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.by_name = {n: LedgerClient(url, n, secret_of(n), session=session) for n in ACCOUNTS}


DISCONNECTED = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


async def run_all(url: str, plan: Plan, *, first: bool, acked: asyncio.Event | None) -> None:
    """Send every operation concurrently; in the first run record what was acknowledged."""
    count = 0

    def ack() -> None:
        nonlocal count
        count += 1
        if acked is not None and count >= KILL_AFTER:
            acked.set()

    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients = Clients(url, session).by_name

        async def transfer(op: TransferOp) -> None:
            try:
                result = await clients[op.sender].transfer(op.receiver, op.amount, op.id)
            except DISCONNECTED:
                if first:
                    return
                raise
            ack()
            if first:
                op.acked = result
            else:
                op.final = result

        async def escrow(op: EscrowOp) -> None:
            sender, receiver = clients[op.sender], clients[op.receiver]
            condition = hashlib.sha256(op.preimage).digest()
            try:
                try:
                    created = await sender.create_escrow(
                        op.receiver, op.amount, condition, op.expires_at, b"memo", op.id
                    )
                except EscrowExpired:
                    assert not first
                    op.refused_expired = True
                    return
                ack()
                if first:
                    op.acked = created
                else:
                    op.final = created
                if not op.fulfil:
                    return
                done = await receiver.fulfil_escrow(created.id, op.preimage, "f-" + op.id)
                ack()
                if first:
                    op.acked_fulfil = done
                else:
                    op.final_fulfil = done
            except DISCONNECTED:
                if not first:
                    raise

        work = [transfer(t) for t in plan.transfers] + [escrow(e) for e in plan.escrows]
        random.Random(7).shuffle(work)  # transfers and escrows interleaved
        await asyncio.gather(*work)


async def test_sigkill_mid_traffic_loses_and_doubles_nothing(tmp_path: Path) -> None:
    server = await start_ledger_async(tmp_path, fee=FEE)
    try:
        await crash_and_recover(server)
    finally:
        server.stop()


async def crash_and_recover(server: LedgerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        setup = LedgerClient(server.url, session=session)
        for name in ACCOUNTS:
            await setup.create_account(name, secret_of(name))
            await setup.as_account(name, secret_of(name)).faucet(START, request_id="seed")

    plan = make_plan(datetime.now(UTC))
    acked = asyncio.Event()

    async def killer() -> None:
        await acked.wait()
        server.kill()

    kill = asyncio.create_task(killer())
    await run_all(server.url, plan, first=True, acked=acked)
    await asyncio.wait_for(kill, 10)
    acked_count = sum(t.acked is not None for t in plan.transfers)
    acked_count += sum(e.acked is not None for e in plan.escrows)
    assert KILL_AFTER <= acked_count < TRANSFERS + ESCROWS, "the kill must land mid-way"
    assert any(e.acked is not None and not e.fulfil for e in plan.escrows)
    print(f"acknowledged before SIGKILL: {acked_count} of {TRANSFERS + ESCROWS} first writes")

    # let the short escrows' expiry pass while the server is down (wall-clock time, no event
    # exists for it), so start-up must roll them back
    latest_short = max(op.expires_at for op in plan.escrows if not op.fulfil)
    await asyncio.sleep(max(0.0, (latest_short - datetime.now(UTC)).total_seconds() + 0.05))
    await asyncio.to_thread(server.restart)
    await run_all(server.url, plan, first=False, acked=None)

    # same id, same result: every write acknowledged before the crash survived it
    for t in plan.transfers:
        assert t.final is not None
        if t.acked is not None:
            assert t.final == t.acked
    for e in plan.escrows:
        if e.acked is not None:
            assert e.final == e.acked, f"escrow {e.id} lost or redone"
        if e.acked_fulfil is not None:
            assert e.final_fulfil == e.acked_fulfil
        if e.fulfil:
            assert e.final_fulfil is not None
            assert e.final_fulfil.state is EscrowState.FULFILLED
        else:
            assert e.refused_expired or e.final is not None

    async with aiohttp.ClientSession() as session:
        setup = LedgerClient(server.url, session=session)
        clients = Clients(server.url, session).by_name
        # every short escrow that was created has rolled back (at start-up or since)
        for e in plan.escrows:
            if not e.fulfil and e.final is not None:
                got = await clients[e.sender].get_escrow(e.final.id)
                assert got.state is EscrowState.EXPIRED, e.id

        expected = dict.fromkeys(ACCOUNTS, START)
        for t in plan.transfers:
            expected[t.sender] -= t.amount + FEE
            expected[t.receiver] += t.amount
        for e in plan.escrows:
            if e.final is None:
                continue
            expected[e.sender] -= e.amount + FEE
            if e.fulfil:
                expected[e.receiver] += e.amount
            else:
                expected[e.sender] += e.amount
        actual = {n: await c.balance() for n, c in clients.items()}
        assert actual == expected

        received: Counter[str] = Counter()
        for name, c in clients.items():
            for event in await c.events_page(limit=1000):
                if event.type is EventType.TRANSFER_RECEIVED and event.transfer is not None:
                    received[f"{event.transfer.sender}/{event.transfer.id}"] += 1
            assert name
        assert set(received.values()) == {1}
        assert len(received) == TRANSFERS

        books = await setup.books()
        created = sum(e.final is not None for e in plan.escrows)
        assert books.balanced
        assert books.escrowed == 0
        assert books.minted == START * len(ACCOUNTS)
        assert books.fees_burned == FEE * (TRANSFERS + created)
        info: Json = (await setup.info()).to_json()
        assert info["name"] == "test.xrp"
