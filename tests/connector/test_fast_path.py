"""The fast path (`ilpnet.connector.fast_path`) answers exactly as the chain of steps does.

Two connectors, alike but for `fast_path`, get the same random packets under the same
random limits, rates, routes and answers from the next hop; each answer (byte for byte),
each observed fact, every balance and every in-flight record must be the same.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilpnet.clock import ManualClock, SystemClock
from ilpnet.connector.accounts import AccountSettings, Relation, TokenBucketSettings
from ilpnet.connector.connector import Connector
from ilpnet.connector.pipeline import ExpiryWindow, Forward
from ilpnet.connector.rates import Rates
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store.memory import MemoryStore
from ilpnet.connector.store.protocols import PacketState, Store
from ilpnet.connector.store.sqlite import SqliteStore
from ilpnet.crypto.condition import condition_of
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpServer
from ilpnet.links.memory import memory_link_pair
from ilpnet.wire.packet import Fulfill, Prepare, Reject

FULFILLMENT = bytes(range(32))
CONDITION = condition_of(FULFILLMENT)
ADDRESS = "test.c"

DESTINATIONS = (
    "test.c.receiver.x",  # a child, reached over its link
    "test.c.receiver",
    "test.c.sender.back",  # back to the sender (refused when reflect=False)
    "test.bob.y",  # a peer that never answers: the connector's own R00
    "test.dave.y",  # a peer with no link: T01
    "test.nowhere",  # no route: F02
    "g.live",  # the other network: F02
    "test.c.nobody",  # under our address, no child: F02
    "test.c",  # our own address (echo: the chain)
    "peer.config",  # a peer protocol (the chain)
)
REPLIES = ("fulfil", "wrong", "reject", "hang_up", "late")


@dataclass(frozen=True)
class Packet:
    amount: int
    expires_in: float
    destination: str
    reply: str
    data: bytes
    advance: float
    """Seconds the clock moves before this packet (refills the rate limiters)."""


@dataclass(frozen=True)
class Scenario:
    sender: dict[str, Any]
    receiver: dict[str, Any]
    reflect: bool
    packets: tuple[Packet, ...]


buckets = st.none() | st.builds(
    TokenBucketSettings,
    refill_per_second=st.integers(1, 5000),
    capacity=st.integers(1, 5000),
)
packets = st.builds(
    Packet,
    amount=st.sampled_from([0, 1, 7, 99, 100, 1000, 5000, 2**63, 2**64 - 1]),
    expires_in=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 1.001, 2.0, 30.0, 31.0, 100.0]),
    destination=st.sampled_from(DESTINATIONS),
    reply=st.sampled_from(REPLIES),
    data=st.sampled_from([b"", b"hello", b"ECHOECHOECHOECHO\x00\x09test.c.x"]),
    advance=st.sampled_from([0.0, 0.001, 0.5, 2.0]),
)
limits = st.fixed_dictionaries(
    {},
    optional={
        "max_packet_amount": st.sampled_from([0, 100, 5000]),
        "maximum": st.sampled_from([0, 100, 2000, 10**6]),
        "minimum": st.sampled_from([-(10**6), -2000, -100, 0]),
        "packet_rate": buckets,
        "amount_rate": buckets,
    },
)
scenarios = st.builds(
    Scenario,
    sender=limits,
    receiver=st.builds(
        lambda lim, asset: {**lim, **asset},
        limits,
        st.sampled_from(
            [
                {"asset_code": "USD", "asset_scale": 2},
                {"asset_code": "USD", "asset_scale": 4},
                {"asset_code": "EUR", "asset_scale": 2},
                {"asset_code": "JPY", "asset_scale": 0},  # no rate: T04
            ]
        ),
    ),
    reflect=st.booleans(),
    packets=st.lists(packets, min_size=1, max_size=8).map(tuple),
)


class Silent:
    """A peer that takes Prepares and never answers (the time passes meanwhile)."""

    def __init__(self, account_id: str, clock: ManualClock) -> None:
        self.account_id = account_id
        self.clock = clock

    def set_handler(self, handler: object) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        self.clock.advance(200)
        await asyncio.Event().wait()
        raise AssertionError("never answered")


class Observed:
    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None:
        facts = fwd.facts
        self.seen.append(
            (
                fwd.account.id,
                answer.encode(),
                facts.recorded,
                facts.outcome_code,
                facts.out_account,
                facts.out_amount,
                fwd.out_account,
                fwd.out_amount,
                fwd.out_expires_at,
            )
        )


async def run(
    scenario: Scenario, *, fast: bool, sqlite: Path | None = None
) -> tuple[list[Any], Observed, list[Any]]:
    """`scenario` through a connector (the memory store, or SQLite in the `sqlite` file):
    every answer, the observer's facts, the books, the packets still pending, the holds
    left and (memory) how each recorded packet ended."""
    clock = ManualClock()
    store: Store = MemoryStore() if sqlite is None else SqliteStore(sqlite)
    sender_settings = {"asset_code": "USD", "asset_scale": 2, **scenario.sender}
    accounts = [
        AccountSettings(id="sender", relation=Relation.CHILD, **sender_settings),
        AccountSettings(id="receiver", relation=Relation.CHILD, **scenario.receiver),
        AccountSettings(id="bob", relation=Relation.PEER, asset_code="USD", asset_scale=2),
        AccountSettings(id="dave", relation=Relation.PEER, asset_code="USD", asset_scale=2),
    ]
    sender, c_sender = memory_link_pair(ADDRESS, "sender", clock)
    c_receiver, receiver = memory_link_pair("receiver", ADDRESS, clock)
    observed = Observed()
    node = Connector(
        ADDRESS,
        accounts,
        store,
        clock,
        links=[c_sender, c_receiver, Silent("bob", clock)],
        routes=[Route("test.bob", "bob"), Route("test.dave", "dave")],
        rates=Rates(fixed={("USD", "EUR"): Fraction(9, 10)}, spread=Fraction(1, 1000)),
        observer=observed,
        reflect=scenario.reflect,
        sweep_interval=0,
        fast_path=fast,
    )
    replies: list[str] = []
    answers: list[Any] = []

    async def answer(prepare: Prepare) -> Fulfill | Reject:
        answers.append(("receiver got", prepare.encode()))
        reply = replies[-1]
        if reply == "fulfil":
            return Fulfill(FULFILLMENT, prepare.data)
        if reply == "wrong":
            return Fulfill(bytes(32))
        if reply == "reject":
            return Reject("F99", "test.c.receiver", "no thanks", b"why")
        if reply == "late":  # past the expiry: the connector has answered R00 meanwhile
            clock.advance(200)
            for _ in range(5):
                await asyncio.sleep(0)
            return Fulfill(FULFILLMENT)
        raise RuntimeError("receiver failed")  # the link answers for it (T00)

    receiver.set_handler(answer)

    async def echo_back(prepare: Prepare) -> Fulfill | Reject:
        return Fulfill(FULFILLMENT)

    sender.set_handler(echo_back)
    await node.start()
    try:
        for packet in scenario.packets:
            clock.advance(packet.advance)
            replies.append(packet.reply)
            prepare = Prepare(
                packet.amount,
                clock.now() + timedelta(seconds=packet.expires_in),
                CONDITION,
                packet.destination,
                packet.data,
            )
            got = await asyncio.wait_for(node.handle("sender", prepare), 5)
            answers.append(got.encode())
        books = [await store.get_balance(a) for a in ("sender", "receiver", "bob", "dave")]
        pending = await store.pending_packets()
        records = [
            (p.incoming_account, p.incoming_amount, p.outgoing_account, p.outgoing_amount)
            for p in pending
        ]
        holds = await store.held_incoming()
        ended = list(store._ended.values()) if isinstance(store, MemoryStore) else None
    finally:
        await node.close()
        await store.close()
    return answers, observed, [books, records, holds, ended]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenarios)
async def test_fast_path_answers_as_the_chain_does(scenario: Scenario) -> None:
    chain_answers, chain_seen, chain_store = await run(scenario, fast=False)
    fast_answers, fast_seen, fast_store = await run(scenario, fast=True)
    assert fast_answers == chain_answers
    assert fast_seen.seen == chain_seen.seen
    assert fast_store == chain_store


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenarios)
async def test_fast_path_answers_as_the_chain_does_with_sqlite(scenario: Scenario) -> None:
    """With SQLite the fast path reserves and records in one store call where the chain
    makes two (and a hold between them); the outcome is the same."""
    with tempfile.TemporaryDirectory() as folder:
        chain = await run(scenario, fast=False, sqlite=Path(folder) / "chain.db")
        fast = await run(scenario, fast=True, sqlite=Path(folder) / "fast.db")
    assert fast[0] == chain[0]
    assert fast[1].seen == chain[1].seen
    assert fast[2] == chain[2]


async def test_fast_path_takes_ordinary_packets_only() -> None:
    node = Connector(ADDRESS, [], MemoryStore(), ManualClock())
    fast = node._fast
    assert fast is not None
    assert fast.takes("test.c.alice")
    assert fast.takes("test.d")
    assert not fast.takes("test.c")
    assert not fast.takes("peer.config")
    assert not fast.takes("peer.route.control")
    assert Connector(ADDRESS, [], MemoryStore(), ManualClock(), fast_path=False)._fast is None


async def test_real_clock_timeout_over_btp_is_the_connectors_own_r00() -> None:
    """The outgoing wait inside BtpLink.send (no timer of its own under the connector's
    `answer_by`) ends at the outgoing expiry with the connector's R00."""
    clock = SystemClock()
    store = MemoryStore()
    server = BtpServer(
        [BtpAccount("sender", "s-token"), BtpAccount("receiver", "r-token")],
        clock=clock,
        address=ADDRESS,
    )
    accounts = [
        AccountSettings(id=name, relation=Relation.CHILD, asset_code="USD", asset_scale=2)
        for name in ("sender", "receiver")
    ]
    node = Connector(
        ADDRESS,
        accounts,
        store,
        clock,
        links=[server.link("sender"), server.link("receiver")],
        expiry=ExpiryWindow(min_message_window=timedelta(milliseconds=100)),
        sweep_interval=0,
    )
    url = f"ws://127.0.0.1:{await server.start()}"
    sender = BtpClientLink(url, "c", "s-token", "sender", clock=clock)
    receiver = BtpClientLink(url, "c", "r-token", "receiver", clock=clock)
    hold = asyncio.Event()

    async def silent(prepare: Prepare) -> Fulfill | Reject:
        await hold.wait()
        return Fulfill(FULFILLMENT)

    receiver.set_handler(silent)
    try:
        await node.start()
        await sender.start()
        await receiver.start()
        await asyncio.wait_for(server.link("receiver").wait_connected(), 5)
        sent_at = clock.now()
        prepare = Prepare(100, sent_at + timedelta(seconds=0.4), CONDITION, "test.c.receiver.x")
        answer = await asyncio.wait_for(sender.send(prepare), 5)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by, answer.message) == (
            "R00",
            ADDRESS,
            "packet expired.",
        )
        assert clock.now() >= sent_at + timedelta(seconds=0.3)  # not before the expiry
        assert list(store._ended.values()) == [PacketState.EXPIRED]
        for name in ("sender", "receiver"):
            book = await store.get_balance(name)
            assert (book.balance, book.pending_in, book.pending_out) == (0, 0, 0)
        conn = server.link("receiver")._conn
        assert conn is not None
        assert not conn.pending
        assert conn.session.outstanding == 0  # the request id is not kept forever
    finally:
        hold.set()
        await sender.close()
        await receiver.close()
        await node.close()
        await server.close()
