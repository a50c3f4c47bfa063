"""BTP peers settle over a common test ledger: a real ledger subprocess, two connectors in
this process joined by real BTP on loopback, SQLite stores and journals.

    sender ─(memory)─ A ══BTP══ B ─(memory)─ receiver          both hold accounts on test.eur

A owes B for what B delivers; when A's balance with B falls below -5 EUR, A pays B's ledger
account and tells B with a BTP Transfer; B checks its ledger account before crediting.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from ilpnet.clock import SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import open_store
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EventType, Transfer
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpRequestError, BtpServer
from ilpnet.links.ledger_settlement import (
    SETTLEMENT_PROTOCOL,
    LedgerSettlementSettings,
    LedgerSettler,
    SettlementJournal,
    SettlementNotice,
    SettlementReceiver,
)
from ilpnet.links.memory import MemoryLink, memory_link_pair
from ilpnet.wire.btp import ContentType, ProtocolData
from ilpnet.wire.errors import IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT
from tests.ledger.servers import LedgerProcess, start_ledger

LEDGER = "test.eur"
THRESHOLD = -5_000_000
SECRET = "ledger-secret-123"
WAIT = 10.0


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    server = start_ledger(tmp_path_factory.mktemp("ledger"), name=LEDGER, asset="EUR", scale=6)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Pair:
    a: Connector
    b: Connector
    a_settler: LedgerSettler
    b_receiver: SettlementReceiver
    a_to_b: BtpClientLink
    sender: MemoryLink
    ledger_a: LedgerClient
    """A's ledger account (the payer)."""
    ledger_b: LedgerClient
    """B's ledger account (the payee)."""
    clock: SystemClock

    async def pay(self, amount: int) -> Fulfill | Reject:
        prepare = Prepare(
            amount, self.clock.now() + timedelta(seconds=10), CONDITION, "test.b.receiver.x"
        )
        return await self.sender.send(prepare)

    async def balance(self, node: Connector, account: str) -> int:
        return (await node.store.get_balance(account)).balance

    async def received(self) -> list[Transfer]:
        """Transfers B's ledger account received (from its events)."""
        events = await self.ledger_b.events_page()
        return [
            e.transfer
            for e in events
            if e.type is EventType.TRANSFER_RECEIVED and e.transfer is not None
        ]


@dataclass
class Accounts:
    """Ledger account names for one test (fresh, so tests share the ledger safely)."""

    a: str
    b: str

    @classmethod
    async def create(cls, url: str, funds: int = 100_000_000) -> Accounts:
        run = uuid.uuid4().hex[:8]
        names = cls(f"a-{run}", f"b-{run}")
        async with LedgerClient(url, names.a, SECRET) as a, LedgerClient(url) as open_:
            await a.create_account(names.a, SECRET)
            await open_.create_account(names.b, SECRET)
            await a.faucet(funds)
        return names


@asynccontextmanager
async def settled_pair(
    tmp_path: Path, url: str, names: Accounts, *, b_believes_peer_is: str | None = None
) -> AsyncIterator[Pair]:
    """A and B over BTP, each settling on the ledger; B trusts transfers from
    `b_believes_peer_is` (default: A's real ledger account)."""
    clock = SystemClock()
    async with AsyncExitStack() as stack:
        store_a = await open_store(f"sqlite:///{tmp_path}/a.db")
        stack.push_async_callback(store_a.close)
        store_b = await open_store(f"sqlite:///{tmp_path}/b.db")
        stack.push_async_callback(store_b.close)
        server = BtpServer([BtpAccount("a", "a-to-b")], clock=clock, address="test.b")
        port = await server.start()
        stack.push_async_callback(server.close)
        a_to_b = BtpClientLink(
            f"ws://127.0.0.1:{port}", "b", "a-to-b", "a", clock=clock, address="test.a"
        )
        a_child, sender = memory_link_pair("sender", "parent", clock)
        b_child, receiver = memory_link_pair("receiver", "parent", clock)

        async def fulfil(prepare: Prepare) -> Fulfill | Reject:
            return Fulfill(FULFILLMENT, b"")

        receiver.set_handler(fulfil)
        a_settler = LedgerSettler(
            SettlementJournal(tmp_path / "a-settlements.sqlite3"),
            clock,
            retry_initial=0.05,
            retry_max=0.2,
        )
        b_settler = LedgerSettler(SettlementJournal(), clock)
        a = Connector(
            "test.a",
            [
                AccountSettings(
                    id="sender", relation=Relation.CHILD, asset_code="EUR", asset_scale=6
                ),
                AccountSettings(
                    id="b",
                    relation=Relation.PEER,
                    asset_code="EUR",
                    asset_scale=6,
                    settle_threshold=THRESHOLD,
                    settle_to=0,
                ),
            ],
            store_a,
            clock,
            links=[a_child, a_to_b],
            routes=[Route("test.b", "b")],
            settler=a_settler,
        )
        b = Connector(
            "test.b",
            [
                AccountSettings(
                    id="a",
                    relation=Relation.PEER,
                    asset_code="EUR",
                    asset_scale=6,
                    maximum=20_000_000,
                ),
                AccountSettings(
                    id="receiver", relation=Relation.CHILD, asset_code="EUR", asset_scale=6
                ),
            ],
            store_b,
            clock,
            links=[server.link("a"), b_child],
            settler=b_settler,
        )
        a_settler.add_account(
            "b",
            LedgerSettlementSettings(
                ledger=url, account=names.a, secret=SECRET, peer_account=names.b
            ),
            a_to_b,
            a.credit_settlement,
        )
        b_receiver = b_settler.add_account(
            "a",
            LedgerSettlementSettings(
                ledger=url,
                account=names.b,
                secret=SECRET,
                peer_account=b_believes_peer_is or names.a,
            ),
            server.link("a"),
            b.credit_settlement,
        )
        for settler, account in ((a_settler, "b"), (b_settler, "a")):
            await settler.check(account, "EUR", 6)
            stack.push_async_callback(settler.close)
        for node in (b, a):
            await node.start()
            stack.push_async_callback(node.close)
        await a_to_b.wait_connected()
        await server.link("a").wait_connected()
        a_settler.start()
        ledger_a = await stack.enter_async_context(LedgerClient(url, names.a, SECRET))
        ledger_b = await stack.enter_async_context(LedgerClient(url, names.b, SECRET))
        yield Pair(a, b, a_settler, b_receiver, a_to_b, sender, ledger_a, ledger_b, clock)


async def test_crossing_the_threshold_pays_on_the_ledger_and_both_sides_return_to_settle_to(
    tmp_path: Path, ledger: LedgerProcess
) -> None:
    names = await Accounts.create(ledger.url)
    async with settled_pair(tmp_path, ledger.url, names) as net:
        for _ in range(2):
            assert isinstance(await net.pay(2_000_000), Fulfill)
        await asyncio.wait_for(net.a.drain(), WAIT)
        assert await net.balance(net.a, "b") == -4_000_000  # above the threshold: no settling
        assert await net.received() == []

        assert isinstance(await net.pay(2_000_000), Fulfill)  # -6 EUR: below -5 EUR
        await asyncio.wait_for(net.a.drain(), WAIT)
        (transfer,) = await net.received()
        assert (transfer.sender, transfer.receiver, transfer.amount) == (
            names.a,
            names.b,
            6_000_000,
        )
        assert await net.balance(net.a, "b") == 0
        assert await net.balance(net.b, "a") == 0
        assert await net.ledger_a.balance() == 100_000_000 - 6_000_000
        assert await net.ledger_b.balance() == 6_000_000
        assert (await net.ledger_a.books()).balanced
        ((entry, done),) = net.a_settler.journal.all()
        assert (entry.transfer_id, entry.amount, done) == (transfer.id, 6_000_000, True)

        # The trustline keeps working, and settles again at the next crossing.
        for _ in range(3):
            assert isinstance(await net.pay(2_000_000), Fulfill)
        await asyncio.wait_for(net.a.drain(), WAIT)
        assert [t.amount for t in await net.received()] == [6_000_000, 6_000_000]
        assert await net.balance(net.b, "a") == 0


def notice(ledger: str, transfer_id: str, amount: int) -> tuple[ProtocolData, ...]:
    body = {"ledger": ledger, "transfer_id": transfer_id, "amount": str(amount)}
    return (ProtocolData(SETTLEMENT_PROTOCOL, ContentType.JSON, json.dumps(body).encode()),)


async def test_forged_or_wrong_notices_credit_nothing_and_a_repeat_credits_once(
    tmp_path: Path, ledger: LedgerProcess
) -> None:
    names = await Accounts.create(ledger.url)
    stranger = f"c-{uuid.uuid4().hex[:8]}"
    async with settled_pair(tmp_path, ledger.url, names) as net:
        assert isinstance(await net.pay(3_000_000), Fulfill)
        assert await net.balance(net.b, "a") == 3_000_000

        async def refused(amount: int, data: tuple[ProtocolData, ...], why: str) -> None:
            with pytest.raises(BtpRequestError, match=why):
                await net.a_to_b.send_transfer(amount, data)
            assert await net.balance(net.b, "a") == 3_000_000

        # No such transfer on the ledger at all.
        await refused(1_000_000, notice(LEDGER, "made-up-id", 1_000_000), "no transfer")
        # No notice; a notice that is not JSON; a different ledger; amounts that disagree.
        await refused(1_000_000, (), "without")
        bad = (ProtocolData(SETTLEMENT_PROTOCOL, ContentType.JSON, b"{not json"),)
        await refused(1_000_000, bad, "not JSON")
        real = await net.ledger_a.transfer(names.b, 1_000_000, request_id=uuid.uuid4().hex)
        await refused(1_000_000, notice("test.other", real.id, 1_000_000), "unknown ledger")
        await refused(2_000_000, notice(LEDGER, real.id, 2_000_000), "is for 1000000")
        await refused(2_000_000, notice(LEDGER, real.id, 1_000_000), "differs")
        # A real transfer to B, but from someone else's ledger account.
        async with LedgerClient(ledger.url, stranger, SECRET) as other:
            await other.create_account(stranger, SECRET)
            await other.faucet(5_000_000)
            theirs = await other.transfer(names.b, 1_000_000, request_id="shared-id-1")
        await refused(1_000_000, notice(LEDGER, theirs.id, 1_000_000), "no transfer")

        # The genuine notice of A's real transfer: credited once, a repeat changes nothing.
        await net.a_to_b.send_transfer(1_000_000, notice(LEDGER, real.id, 1_000_000))
        assert await net.balance(net.b, "a") == 2_000_000
        await net.a_to_b.send_transfer(1_000_000, notice(LEDGER, real.id, 1_000_000))
        assert await net.balance(net.b, "a") == 2_000_000
        assert (await net.ledger_a.books()).balanced


async def test_a_restart_after_paying_but_before_telling_the_peer_pays_once(
    tmp_path: Path, ledger: LedgerProcess
) -> None:
    names = await Accounts.create(ledger.url)
    # B is misconfigured (expects transfers from another ledger account): A pays on the
    # ledger, B refuses the notice, A keeps retrying until A is shut down.
    async with settled_pair(tmp_path, ledger.url, names, b_believes_peer_is="nobody") as net:
        for _ in range(3):
            assert isinstance(await net.pay(2_000_000), Fulfill)
        # A paid, then told B, and B refused.
        await asyncio.wait_for(net.b_receiver.refused.wait(), WAIT)
        assert [t.amount for t in await net.received()] == [6_000_000]
        assert await net.balance(net.a, "b") == 0  # debited first (RFC 0038 §4.3)
        assert await net.balance(net.b, "a") == 6_000_000  # not credited: B refused
    # Restart with B fixed: A resumes the unfinished settlement from its journal.
    async with settled_pair(tmp_path, ledger.url, names) as net:
        await asyncio.wait_for(net.a_settler.drain(), WAIT)
        assert await net.balance(net.b, "a") == 0
        assert await net.balance(net.a, "b") == 0
        assert [t.amount for t in await net.received()] == [6_000_000]  # paid once
        assert await net.ledger_a.balance() == 100_000_000 - 6_000_000
        ((_, done),) = net.a_settler.journal.all()
        assert done


async def test_a_crash_between_the_ledger_transfer_and_the_journal_retries_the_same_id(
    tmp_path: Path, ledger: LedgerProcess
) -> None:
    """The journal said 'owed' but the ledger had already applied the transfer (the crash
    came between the two): resuming repeats the transfer id, so the ledger pays once."""
    names = await Accounts.create(ledger.url)
    journal = SettlementJournal(tmp_path / "a-settlements.sqlite3")
    entry = journal.record("b", 4_000_000)
    async with LedgerClient(ledger.url, names.a, SECRET) as payer:
        await payer.transfer(names.b, 4_000_000, request_id=entry.transfer_id)
    journal.close()
    async with settled_pair(tmp_path, ledger.url, names) as net:
        await asyncio.wait_for(net.a_settler.drain(), WAIT)
        (transfer,) = await net.received()
        assert (transfer.id, transfer.amount) == (entry.transfer_id, 4_000_000)
        assert await net.ledger_a.balance() == 100_000_000 - 4_000_000
        assert await net.balance(net.b, "a") == -4_000_000  # B credited the notice once
        assert (await net.ledger_a.books()).balanced


def test_settlement_notice_round_trip_and_bad_amounts() -> None:
    n = SettlementNotice(LEDGER, "t1", 42)
    assert SettlementNotice.decode((n.encode(),)) == n
    with pytest.raises(IlpError, match="amount must be > 0"):
        SettlementNotice(LEDGER, "t1", 0)
    for raw in ("-5", "1.5", "1e3", "9" * 30):
        data = notice(LEDGER, "t1", 1)[0].data.replace(b'"1"', json.dumps(raw).encode())
        with pytest.raises(IlpError, match="not a decimal integer"):
            SettlementNotice.decode((ProtocolData(SETTLEMENT_PROTOCOL, ContentType.JSON, data),))


def test_settings_name_the_bad_key() -> None:
    with pytest.raises(ValueError, match="ledger"):
        LedgerSettlementSettings(ledger="ftp://x", account="a", secret="s", peer_account="b")
    with pytest.raises(ValueError, match="peer_account"):
        LedgerSettlementSettings.model_validate(
            {"ledger": "http://127.0.0.1:1", "account": "a", "secret": "s"}
        )


async def test_a_ledger_in_another_asset_is_refused_at_start(ledger: LedgerProcess) -> None:
    settler = LedgerSettler(SettlementJournal(), SystemClock())
    link = BtpClientLink("ws://127.0.0.1:1", "b", "t", "a")

    async def credit(account: str, amount: int, key: str) -> bool:
        raise AssertionError("nothing to credit")

    settings = LedgerSettlementSettings(
        ledger=ledger.url, account="x", secret=SECRET, peer_account="y"
    )
    settler.add_account("b", settings, link, credit)
    try:
        with pytest.raises(
            ValueError, match=r"accounts\.b\.settlement\.ledger: test\.eur holds EUR/6"
        ):
            await settler.check("b", "USD", 2)
    finally:
        await settler.close()
