"""Two `ilpnet connector run` processes peered over BTP settle on one real ledger process.

    sender ─ A (test.a) ══BTP══ B (test.b) ─ receiver        A and B hold accounts on test.eur

A owes B for each payment B delivers; when A's balance with B falls below -5 EUR, A pays
B's ledger account and tells B; B checks its ledger account, then credits A.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ilpnet.connector.config import ConfigError
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.models import EventType, Transfer
from ilpnet.links.btp import BtpClientLink
from ilpnet.node.connector_process import parse_node_config
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT
from tests.ledger.servers import LedgerProcess, start_ledger
from tests.node.connectors import ConnectorProcess

SECRET = "ledger-secret-123"
WAIT = 20.0


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    server = start_ledger(tmp_path_factory.mktemp("ledger"), name="test.eur", asset="EUR")
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Peering:
    a: ConnectorProcess
    b: ConnectorProcess
    sender: BtpClientLink
    ledger_a: LedgerClient
    ledger_b: LedgerClient
    names: tuple[str, str]

    async def pay(self, amount: int) -> Fulfill | Reject:
        expires = datetime.now(UTC) + timedelta(seconds=10)
        return await self.sender.send(Prepare(amount, expires, CONDITION, "test.b.receiver.x"))

    async def received(self) -> list[Transfer]:
        events = await self.ledger_b.events_page()
        return [
            e.transfer
            for e in events
            if e.type is EventType.TRANSFER_RECEIVED and e.transfer is not None
        ]


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` (a cross-process state) until true, at most WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"not within {WAIT}s: {what}")
        await asyncio.sleep(0.05)


def configs(
    tmp_path: Path, url: str, names: tuple[str, str], b_trusts: str
) -> tuple[ConnectorProcess, ConnectorProcess]:
    a = ConnectorProcess("a", {}, tmp_path)
    b = ConnectorProcess("b", {}, tmp_path)
    a.config.update(
        {
            "address": "test.a",
            "store": f"sqlite:///{tmp_path}/a.db",
            "accounts": {
                "sender": {
                    "relation": "child",
                    "asset_code": "EUR",
                    "asset_scale": 6,
                    "link": {"kind": "btp-server", "token": "sender-secret"},
                },
                "b": {
                    "relation": "peer",
                    "asset_code": "EUR",
                    "asset_scale": 6,
                    "settle_threshold": -5_000_000,
                    "settle_to": 0,
                    "link": {"kind": "btp-client", "url": b.btp_url, "token": "a-to-b"},
                    "settlement": {
                        "ledger": url,
                        "account": names[0],
                        "secret": SECRET,
                        "peer_account": names[1],
                    },
                },
            },
            "routes": [{"prefix": "test.b", "account": "b"}],
        }
    )
    b.config.update(
        {
            "address": "test.b",
            "store": f"sqlite:///{tmp_path}/b.db",
            "accounts": {
                "a": {
                    "relation": "peer",
                    "asset_code": "EUR",
                    "asset_scale": 6,
                    "maximum": 20_000_000,
                    "link": {"kind": "btp-server", "token": "a-to-b"},
                    "settlement": {
                        "ledger": url,
                        "account": names[1],
                        "secret": SECRET,
                        "peer_account": b_trusts,
                    },
                },
                "receiver": {
                    "relation": "child",
                    "asset_code": "EUR",
                    "asset_scale": 6,
                    "link": {"kind": "btp-server", "token": "receiver-secret"},
                },
            },
        }
    )
    return a, b


@asynccontextmanager
async def peering(
    tmp_path: Path, url: str, *, b_trusts_someone_else: bool = False
) -> AsyncIterator[Peering]:
    run = uuid.uuid4().hex[:8]
    names = (f"a-{run}", f"b-{run}")
    async with LedgerClient(url, names[0], SECRET) as ledger_a:
        await ledger_a.create_account(names[0], SECRET)
        await ledger_a.create_account(names[1], SECRET)
        await ledger_a.faucet(100_000_000)
    a, b = configs(tmp_path, url, names, "nobody" if b_trusts_someone_else else names[0])
    sender = BtpClientLink(a.btp_url, "a", token="sender-secret", username="sender")
    receiver = BtpClientLink(b.btp_url, "b", token="receiver-secret", username="receiver")

    async def fulfil(prepare: Prepare) -> Fulfill | Reject:
        return Fulfill(FULFILLMENT, b"")

    receiver.set_handler(fulfil)
    try:
        await asyncio.gather(a.start(), b.start())
        await asyncio.gather(a.wait_healthy(links=("b",)), b.wait_healthy(links=("a",)))
        await sender.start()
        await receiver.start()
        await b.wait_healthy(links=("a", "receiver"))
        async with (
            LedgerClient(url, names[0], SECRET) as ledger_a,
            LedgerClient(url, names[1], SECRET) as ledger_b,
        ):
            yield Peering(a, b, sender, ledger_a, ledger_b, names)
    finally:
        await sender.close()
        await receiver.close()
        await asyncio.gather(a.stop(), b.stop())


async def test_two_processes_settle_over_the_ledger(tmp_path: Path, ledger: LedgerProcess) -> None:
    async with peering(tmp_path, ledger.url) as net:
        for _ in range(2):
            assert isinstance(await net.pay(2_000_000), Fulfill)
        assert (await net.a.balances())["b"] == -4_000_000
        assert (await net.b.balances())["a"] == 4_000_000

        assert isinstance(await net.pay(2_000_000), Fulfill)  # -6 EUR: past the threshold

        async def settled() -> bool:
            return (await net.b.balances())["a"] == 0

        await eventually(settled, "B credits A's settlement")
        (transfer,) = await net.received()
        assert (transfer.sender, transfer.amount) == (net.names[0], 6_000_000)
        assert (await net.a.balances())["b"] == 0
        assert await net.ledger_a.balance() == 100_000_000 - 6_000_000
        assert await net.ledger_b.balance() == 6_000_000
        assert (await net.ledger_a.books()).balanced


async def test_a_killed_mid_settlement_pays_once_after_restart(
    tmp_path: Path, ledger: LedgerProcess
) -> None:
    async with peering(tmp_path, ledger.url, b_trusts_someone_else=True) as net:
        for _ in range(3):
            assert isinstance(await net.pay(2_000_000), Fulfill)
        events = net.ledger_b.subscribe()
        first = await asyncio.wait_for(aiter(events).__anext__(), WAIT)  # A paid on the ledger
        await events.close()
        assert first.type is EventType.TRANSFER_RECEIVED

        async def refused() -> bool:
            return "settlement.refused" in net.b.log_path.read_text()

        # B refuses the notice (it trusts another ledger account); A keeps retrying. Crash A.
        await eventually(refused, "B refuses the notice")
        net.a.kill()
        assert await net.a.wait_exit() == -9
        assert (await net.b.balances())["a"] == 6_000_000
        # Fix B's config, restart both: A finds the settlement in its journal and tells B.
        await net.b.stop()
        net.b.config["accounts"]["a"]["settlement"]["peer_account"] = net.names[0]
        await asyncio.gather(net.a.start(), net.b.start())
        await asyncio.gather(net.a.wait_healthy(links=("b",)), net.b.wait_healthy(("a",)))

        async def settled() -> bool:
            return (await net.b.balances())["a"] == 0

        await eventually(settled, "B credits the resumed settlement")
        assert [t.amount for t in await net.received()] == [6_000_000]  # paid once
        assert (await net.a.balances())["b"] == 0
        assert await net.ledger_a.balance() == 100_000_000 - 6_000_000
        assert (await net.ledger_a.books()).balanced


async def test_killed_after_deciding_a_settlement_it_pays_it_after_restart(
    tmp_path: Path, ledger: LedgerProcess
) -> None:
    """SIGKILL right after A's store raised the balance and before its journal held the
    amount: the restart learns the amount from the store (under the journalled intent's
    key) and pays it, once; A's and B's books agree."""
    async with peering(tmp_path, ledger.url) as net:
        await net.a.stop()
        await net.a.start("--crash-at", "decided")
        await net.a.wait_healthy(links=("b",))

        async def redialled() -> bool:
            return net.sender.connects >= 2 and net.sender.connected

        await eventually(redialled, "the sender dials the restarted A")
        for _ in range(2):
            assert isinstance(await net.pay(2_000_000), Fulfill)  # -4 EUR: above -5
        await net.pay(2_000_000)  # -6 EUR: A decides to settle 6 EUR and dies (maybe first)
        assert await net.a.wait_exit() == -9
        assert (await net.b.balances())["a"] == 6_000_000
        assert await net.received() == []  # nothing was paid before the crash

        await net.a.start()
        await net.a.wait_healthy(links=("b",))

        async def settled() -> bool:
            return (await net.b.balances())["a"] == 0

        await eventually(settled, "the restarted A pays what its store decided")
        assert [t.amount for t in await net.received()] == [6_000_000]  # paid once
        assert (await net.a.balances())["b"] == 0
        assert (await net.ledger_a.books()).balanced


BASE = """
address = "test.a"
store = "memory://"
[accounts.b]
relation = "peer"
asset_code = "EUR"
asset_scale = 6
link = { kind = "btp-server", token = "t" }
"""


@pytest.mark.parametrize(
    ("settlement", "where"),
    [
        (
            '{ ledger = "http://127.0.0.1:1", account = "a", secret = "s" }',
            "settlement.peer_account",
        ),
        (
            '{ ledger = "ws://x", account = "a", secret = "s", peer_account = "b" }',
            "settlement.ledger",
        ),
        (
            '{ ledger = "http://x", account = "a", secret = "s", peer_account = "b", x = 1 }',
            "settlement.x",
        ),
    ],
)
def test_a_bad_settlement_table_names_its_key(settlement: str, where: str) -> None:
    with pytest.raises(ConfigError, match=rf"accounts\.b\.{where.replace('.', '[.]')}"):
        parse_node_config(BASE + f"settlement = {settlement}\n")


def test_a_settlement_with_a_redis_store_needs_a_journal() -> None:
    text = BASE.replace("memory://", "redis://127.0.0.1:6379") + (
        'settlement = { ledger = "http://x", account = "a", secret = "s", peer_account = "b" }\n'
    )
    with pytest.raises(ConfigError, match="settlement_journal"):
        parse_node_config(text)
    config = parse_node_config('settlement_journal = "j.sqlite3"\n' + text)
    assert config.journal_path() == "j.sqlite3"
    assert config.settlements()["b"].peer_account == "b"


def test_without_a_common_ledger_the_account_stays_credit_only() -> None:
    config = parse_node_config(
        BASE.replace("asset_scale = 6", "asset_scale = 6\nsettle_threshold = -5")
    )
    assert config.settlements() == {}
    assert config.credit_only_elsewhere().accounts["b"].settle_threshold is None
