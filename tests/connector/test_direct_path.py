"""The direct path (`ilpnet.connector.direct_path`) answers exactly as the fast path does.

Two connectors, alike but for `direct_path`, each on the real clock with a `MemoryStore`
and real BTP links on 127.0.0.1, get the same packets (fixed lists and random ones) from a
"sender" child; each answer, each observed fact, every balance and every in-flight record
must be the same. What depends on the wall clock is compared relative to the Prepare's own
expiry (the expiry the next hop sees) or masked (timestamps inside reject messages), and
the expiries used are far from every boundary, so real time cannot change an outcome.

Who answered is checked by what the links show: a `BtpLink` runs a task per incoming
Prepare it hands to the connector's `IncomingHandler`, and none for a Prepare the direct
handler took. So while the receiver holds a Prepare, the sender's server link has one task
under the fast path and none under the direct path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ilpnet.clock import ManualClock, SystemClock
from ilpnet.connector import direct_path
from ilpnet.connector.accounts import AccountSettings, Relation, TokenBucketSettings
from ilpnet.connector.connector import Connector
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.connector.pipeline import ExpiryWindow, Forward
from ilpnet.connector.rates import BalanceHoldings, Rates
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store.memory import MemoryStore
from ilpnet.connector.store.protocols import PacketState
from ilpnet.crypto.condition import condition_of
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpServer
from ilpnet.wire.errors import ErrorCode
from ilpnet.wire.oer import encode_var_octets
from ilpnet.wire.packet import Fulfill, Prepare, Reject, decode_packet

FULFILLMENT = bytes(range(32))
CONDITION = condition_of(FULFILLMENT)
ADDRESS = "test.c"
WINDOW = timedelta(milliseconds=200)
"""The connector's `min_message_window`: outgoing expiry = incoming expiry - 0.2 s, and
R02 when less than 0.2 s would be left."""
SHORT = 0.6
"""The incoming expiry (seconds ahead) of Prepares that wait for the connector's own R00:
a 0.4 s outgoing window, 0.2 s clear of R02."""
ECHO_TO_SENDER = b"ECHOECHOECHOECHO\x00" + encode_var_octets(b"test.c.sender.back")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")

FIXED_ASSETS = (("USD", 2), ("USD", 4), ("EUR", 2))
"""Receiver assets with a fixed price from USD/2 (the direct path's pairs)."""
POOL_ASSETS = (("GBP", 2), ("JPY", 0))
"""Receiver assets priced by the pool (GBP from holdings, JPY: no holdings, T04)."""


@dataclass(frozen=True)
class Packet:
    amount: int
    expires_in: float
    """Seconds ahead of now: -1 expired (R00), 0.3 too short (R02), else forwarded."""
    destination: str
    reply: str
    """What the receiver does: fulfil, wrong (F05), reject, hang_up (T01), late (R00)."""
    data: bytes = b""

    @property
    def waits(self) -> bool:
        """Whether the connector answers it only at its outgoing expiry (its own R00)."""
        forwarded = self.expires_in > 0.5
        to_receiver = self.destination.startswith("test.c.receiver")
        return forwarded and (
            self.destination.startswith("test.bob") or (to_receiver and self.reply == "late")
        )


@dataclass(frozen=True)
class Scenario:
    sender: dict[str, Any]
    receiver: dict[str, Any]
    reflect: bool
    packets: tuple[Packet, ...]


@dataclass
class Outcome:
    """What one connector did with a scenario's packets."""

    answers: list[object] = field(default_factory=list)
    """Per packet: what the next hop got (if anything) and the sender's answer."""
    seen: list[tuple[object, ...]] = field(default_factory=list)
    """The observer's view of each answered packet."""
    store: list[object] = field(default_factory=list)
    tasks: list[tuple[str, int, int]] = field(default_factory=list)
    """Per Prepare the receiver got: (asset code, amount, tasks of the sender's link)."""
    back_tasks: list[tuple[bytes, int]] = field(default_factory=list)
    """Per Prepare the sender got back: (its data, tasks of the sender's link)."""
    seconds: float = 0.0
    """From the first packet sent to the last answer."""


def masked(answer: Fulfill | Reject) -> bytes:
    """`answer` encoded, with the wall-clock timestamps in a reject message masked."""
    if isinstance(answer, Fulfill):
        return answer.encode()
    message = TIMESTAMP.sub("<time>", answer.message)
    return Reject(answer.code, answer.triggered_by, message, answer.data).encode()


def relative(value: object, expires_at: datetime) -> object:
    return value - expires_at if isinstance(value, datetime) else value


def got(who: str, prepare: Prepare, sent_expiry: datetime) -> tuple[object, ...]:
    """What a next hop got, its expiry as an offset from the sender's expiry."""
    at = prepare.expires_at - sent_expiry
    return (who, prepare.amount, at, prepare.execution_condition, prepare.destination, prepare.data)


class Observed:
    def __init__(self) -> None:
        self.seen: list[tuple[object, ...]] = []
        self.packet_ids: list[str] = []

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None:
        facts = fwd.facts
        expires_at = fwd.prepare.expires_at
        self.packet_ids.append(fwd.packet_id)
        self.seen.append(
            (
                fwd.account.id,
                (fwd.prepare.amount, fwd.prepare.destination, fwd.prepare.data),
                masked(answer),
                facts.recorded,
                facts.outcome_code,
                facts.out_account,
                facts.out_amount,
                fwd.out_account,
                fwd.out_amount,
                relative(fwd.out_expires_at, expires_at),
            )
        )


@dataclass
class Net:
    """A connector on the real clock, its BTP server, and the clients around it."""

    node: Connector
    store: MemoryStore
    server: BtpServer
    sender: BtpClientLink
    receiver: BtpClientLink
    observed: Observed
    receiver_asset: str
    reply: str = "fulfil"
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the sender has its answer (a "late" receiver fulfils then)."""
    outcome: Outcome = field(default_factory=Outcome)
    sent_expiry: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    def sender_link_tasks(self) -> int:
        """Tasks the connector's link to the sender runs now: one per Prepare from the
        sender that its `IncomingHandler` answers, none for those the direct path took."""
        return len(self.server.link("sender")._tasks)

    async def send(self, packet: Packet) -> Fulfill | Reject:
        """Send `packet` from the sender and wait for the answer (and, if the receiver
        hung up, for it to be back)."""
        now = SystemClock().now()
        expiry = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self.sent_expiry = expiry + timedelta(seconds=packet.expires_in)
        self.reply = packet.reply
        self.answered = asyncio.Event()
        prepare = Prepare(
            packet.amount, self.sent_expiry, CONDITION, packet.destination, packet.data
        )
        answer = await asyncio.wait_for(self.sender.send(prepare), 5)
        self.answered.set()
        self.outcome.answers.append(masked(answer))
        await asyncio.wait_for(self.server.link("receiver").wait_connected(), 5)
        return answer

    async def books(self) -> list[object]:
        store = self.store
        books = [await store.get_balance(a) for a in ("sender", "receiver", "bob", "dave")]
        records = [
            (p.incoming_account, p.incoming_amount, p.outgoing_account, p.outgoing_amount)
            for p in await store.pending_packets()
        ]
        return [books, records, list(store._ended.values())]


@asynccontextmanager
async def connector(
    *,
    direct: bool,
    sender: dict[str, Any] | None = None,
    receiver: dict[str, Any] | None = None,
    reflect: bool = True,
    metrics: ConnectorMetrics | None = None,
) -> AsyncIterator[Net]:
    """A connector (`direct_path=direct`) with "sender" and "receiver" children connected
    over BTP, "bob" (a peer whose client never answers) and "dave" (a peer with no
    connection)."""
    clock = SystemClock()
    store = MemoryStore()
    receiver_settings = {"asset_code": "USD", "asset_scale": 2, **(receiver or {})}
    accounts = [
        AccountSettings(
            id="sender", relation=Relation.CHILD, asset_code="USD", asset_scale=2, **(sender or {})
        ),
        AccountSettings(id="receiver", relation=Relation.CHILD, **receiver_settings),
        AccountSettings(id="bob", relation=Relation.PEER, asset_code="USD", asset_scale=2),
        AccountSettings(id="dave", relation=Relation.PEER, asset_code="USD", asset_scale=2),
    ]
    names = [a.id for a in accounts]
    server = BtpServer(
        [BtpAccount(name, f"{name}-token") for name in names], clock=clock, address=ADDRESS
    )
    holdings = BalanceHoldings(
        store, {a.id: a for a in accounts}, liquidity={"USD": Fraction(1000), "GBP": Fraction(800)}
    )
    observed = Observed()
    node = Connector(
        ADDRESS,
        accounts,
        store,
        clock,
        links=[server.link(name) for name in names],
        routes=[Route("test.bob", "bob"), Route("test.dave", "dave")],
        rates=Rates(holdings, fixed={("USD", "EUR"): Fraction(9, 10)}, spread=Fraction(1, 1000)),
        expiry=ExpiryWindow(min_message_window=WINDOW),
        observer=observed if metrics is None else metrics,
        reflect=reflect,
        sweep_interval=0,
        direct_path=direct,
    )
    assert (node._direct is not None) is direct
    url = f"ws://127.0.0.1:{await server.start()}"
    # The sender's own clock stands still in 2000: its link sends Prepares the connector
    # must refuse as expired, and leaves every deadline to the connector.
    sender_link = BtpClientLink(
        url, "c", "sender-token", "sender", clock=ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
    )
    receiver_link = BtpClientLink(
        url, "c", "receiver-token", "receiver", clock=clock, backoff_initial=0.01
    )
    bob = BtpClientLink(url, "c", "bob-token", "bob", clock=clock)
    net = Net(
        node, store, server, sender_link, receiver_link, observed, receiver_settings["asset_code"]
    )
    hold = asyncio.Event()

    async def answer(prepare: Prepare) -> Fulfill | Reject:
        net.outcome.answers.append(got("receiver got", prepare, net.sent_expiry))
        net.outcome.tasks.append((net.receiver_asset, prepare.amount, net.sender_link_tasks()))
        reply = net.reply
        if reply == "fulfil":
            return Fulfill(FULFILLMENT, prepare.data)
        if reply == "wrong":
            return Fulfill(bytes(32))
        if reply == "reject":
            return Reject("F99", "test.c.receiver", "no thanks", b"why")
        if reply == "late":  # after the connector's R00, which it then must not take back
            await asyncio.wait_for(net.answered.wait(), 5)
            return Fulfill(FULFILLMENT)
        await receiver_link.disconnect("hanging up")  # the answer below is never sent
        return Fulfill(FULFILLMENT)

    async def echo_back(prepare: Prepare) -> Fulfill | Reject:
        net.outcome.answers.append(got("sender got", prepare, net.sent_expiry))
        net.outcome.back_tasks.append((prepare.data, net.sender_link_tasks()))
        return Fulfill(FULFILLMENT)

    async def silent(prepare: Prepare) -> Fulfill | Reject:
        await hold.wait()
        return Fulfill(FULFILLMENT)

    receiver_link.set_handler(answer)
    sender_link.set_handler(echo_back)
    bob.set_handler(silent)
    try:
        await node.start()
        for client in (sender_link, receiver_link, bob):
            await client.start()
        for name in ("sender", "receiver", "bob"):
            await asyncio.wait_for(server.link(name).wait_connected(), 5)
        yield net
    finally:
        hold.set()
        for client in (sender_link, receiver_link, bob):
            await client.close()
        await node.close()
        await server.close()


async def run(
    packets: tuple[Packet, ...],
    *,
    direct: bool,
    sender: dict[str, Any] | None = None,
    receiver: dict[str, Any] | None = None,
    reflect: bool = True,
) -> Outcome:
    async with connector(direct=direct, sender=sender, receiver=receiver, reflect=reflect) as net:
        started = asyncio.get_running_loop().time()
        for packet in packets:
            await net.send(packet)
        net.outcome.seconds = asyncio.get_running_loop().time() - started
        net.outcome.seen = net.observed.seen
        net.outcome.store = await net.books()
        assert len(set(net.observed.packet_ids)) == len(net.observed.packet_ids)
        return net.outcome


async def both(packets: tuple[Packet, ...], **kw: Any) -> tuple[Outcome, Outcome]:
    """The same packets through a direct-path and a fast-path connector, side by side (the
    waits for expiries overlap)."""
    direct, fast = await asyncio.gather(
        run(packets, direct=True, **kw), run(packets, direct=False, **kw)
    )
    check(direct, fast)
    return direct, fast


def check(direct: Outcome, fast: Outcome) -> None:
    """Who answered what, then: the same answers, facts and books."""
    for asset, amount, tasks in direct.tasks:
        took_it = asset in {code for code, _ in FIXED_ASSETS} or amount == 0
        assert tasks == (0 if took_it else 1), (asset, amount, tasks)
    assert all(tasks == 1 for _, _, tasks in fast.tasks), fast.tasks
    assert all(tasks == 1 for _, tasks in fast.back_tasks), fast.back_tasks
    assert direct.answers == fast.answers
    assert direct.seen == fast.seen
    assert direct.store == fast.store


# ---- every case once -----------------------------------------------------------------

CASES: list[tuple[Packet, str]] = [
    (Packet(100, 2.0, "test.c.receiver.x", "fulfil"), ""),
    (Packet(100, 2.0, "test.c.receiver.x", "wrong"), "F05"),
    (Packet(100, 2.0, "test.c.receiver.x", "reject"), "F99"),
    (Packet(100, 2.0, "test.c.receiver.x", "hang_up"), "T01"),
    (Packet(100, SHORT, "test.c.receiver.x", "late"), "R00"),
    (Packet(100, SHORT, "test.bob.y", "fulfil"), "R00"),
    (Packet(0, 20.0, "test.c.receiver", "fulfil", b"zero"), ""),
    (Packet(0, 2.0, "test.c.receiver", "reject"), "F99"),
    (Packet(6000, 2.0, "test.c.receiver.x", "fulfil"), "F08"),
    (Packet(5000, 2.0, "test.c.receiver.x", "fulfil"), ""),
    (Packet(5000, 2.0, "test.c.receiver.x", "fulfil"), "T04"),  # sender's maximum
    (Packet(1000, 2.0, "test.c.receiver.x", "fulfil"), "T04"),  # receiver's minimum
    (Packet(1, 2.0, "test.c.receiver.x", "fulfil"), "R01"),  # 0.999 rounds down to 0
    (Packet(7, 2.0, "test.c.sender.back", "fulfil"), ""),
    (Packet(0, 2.0, "peer.config", "fulfil"), "F01"),  # not the ILDCP condition
    (Packet(7, 2.0, "test.c", "fulfil", ECHO_TO_SENDER), ""),
    (Packet(7, 2.0, "test.nowhere", "fulfil"), "F02"),
    (Packet(7, 2.0, "test.c.nobody", "fulfil"), "F02"),
    (Packet(7, 2.0, "test.dave.y", "fulfil"), "T01"),
    (Packet(7, -1.0, "test.c.receiver.x", "fulfil"), "R00"),
    (Packet(7, 0.3, "test.c.receiver.x", "fulfil"), "R02"),
]
CASE_LIMITS = {
    "sender": {"max_packet_amount": 5000, "maximum": 7000},
    "receiver": {"minimum": -6000},
}


@pytest.mark.parametrize(
    ("asset", "scale"), [("USD", 2), ("EUR", 2), ("GBP", 2)], ids=["usd", "eur", "pool-gbp"]
)
async def test_direct_path_answers_every_case_as_the_fast_path(asset: str, scale: int) -> None:
    packets = tuple(packet for packet, _ in CASES)
    receiver = {**CASE_LIMITS["receiver"], "asset_code": asset, "asset_scale": scale}
    direct, _ = await both(packets, sender=CASE_LIMITS["sender"], receiver=receiver)
    answers = [decode_packet(a) for a in direct.answers if isinstance(a, bytes)]
    assert len(answers) == len(CASES)
    back = [a for a in direct.answers if isinstance(a, tuple) and a[0] == "sender got"]
    assert [a[5] for a in back] == [b"", b"ECHOECHOECHOECHO\x01"]  # reflected, and the echo
    assert direct.back_tasks == [(b"", 0), (b"ECHOECHOECHOECHO\x01", 1)]  # the echo: a task
    ended = direct.store[2]
    assert isinstance(ended, list)
    if asset == "GBP":  # priced by the pool: the fast path took all but the zero amounts
        assert sorted(tasks for _, _, tasks in direct.tasks) == [0, 0] + [1] * (
            len(direct.tasks) - 2
        )
        return
    codes = [a.code if isinstance(a, Reject) else "" for a in answers]
    if asset == "USD":
        assert codes == [code for _, code in CASES]
    # the receiver got 8 (USD; in EUR the 1000 stays above its minimum: 9), each through
    # the direct path
    assert len(direct.tasks) == (8 if asset == "USD" else 9)
    assert all(tasks == 0 for _, _, tasks in direct.tasks)
    expired = [(a.triggered_by, a.message) for a in answers[4:6] if isinstance(a, Reject)]
    assert expired == [(ADDRESS, "packet expired."), (ADDRESS, "packet expired.")]
    assert ended.count(PacketState.EXPIRED) == 2  # the late receiver and bob


async def test_direct_path_counts_metrics_as_the_fast_path() -> None:
    """With `ConnectorMetrics` as the observer the direct path hands it plain values
    (`count_packet`, no `Forward`): every case gives the same counts, amounts and latency
    counts as the fast path's `observe`."""

    async def exposed(direct: bool) -> list[str]:
        metrics = ConnectorMetrics()
        receiver = {**CASE_LIMITS["receiver"], "asset_code": "EUR", "asset_scale": 2}
        async with connector(
            direct=direct, sender=CASE_LIMITS["sender"], receiver=receiver, metrics=metrics
        ) as net:
            for packet, _ in CASES:
                await net.send(packet)
        text = metrics.exposition().decode()
        timed = ("_created", "_sum", "_bucket")  # wall-clock figures
        return sorted(
            line
            for line in text.splitlines()
            if not line.startswith("#") and not any(t in line.split("{")[0] for t in timed)
        )

    direct, fast = await asyncio.gather(exposed(True), exposed(False))
    assert direct == fast
    assert 'ilpnet_packets_total{code="",incoming="sender",outgoing="receiver",' in "".join(direct)
    assert any(line.startswith("ilpnet_fulfilled_amount_total") for line in direct)
    assert 'ilpnet_packet_seconds_count{outgoing="-"} 8.0' in direct  # not forwarded


async def test_direct_path_answers_rate_limits_as_the_fast_path() -> None:
    """T04 (money bandwidth) and T05 (packets): buckets refilled at 1 a second, emptied in
    well under a second."""
    per_second = {"refill_per_second": 1}
    sender = {
        "packet_rate": TokenBucketSettings(capacity=4, **per_second),
        "amount_rate": TokenBucketSettings(capacity=250, **per_second),
    }
    packets = tuple(
        Packet(amount, 2.0, "test.c.receiver.x", "fulfil") for amount in (100, 100, 100, 7, 7)
    )
    direct, fast = await asyncio.gather(
        run(packets, direct=True, sender=sender), run(packets, direct=False, sender=sender)
    )
    if max(direct.seconds, fast.seconds) >= 0.9:
        pytest.skip("the machine stalled: the buckets refilled a token meanwhile")
    check(direct, fast)
    answers = [decode_packet(a) for a in direct.answers if isinstance(a, bytes)]
    assert [a.code if isinstance(a, Reject) else "" for a in answers] == ["", "", "T04", "", "T05"]


async def test_the_direct_path_takes_ordinary_prepares_only() -> None:
    """`Connector.handle_now` (the links' direct handler): False, with nothing done, for
    what the fast path or the chain must answer; True for an ordinary Prepare, answered
    once through the callback."""
    async with connector(direct=True, receiver={"asset_code": "GBP", "asset_scale": 2}) as net:
        expiry = SystemClock().now() + timedelta(seconds=5)
        answers: list[Fulfill | Reject] = []
        for amount, destination in [
            (7, "peer.config"),  # a peer protocol
            (7, "test.c"),  # the connector's own address (echo)
            (7, "test.nowhere"),  # no route (F02 from the fast path)
            (7, "test.c.receiver.x"),  # USD/2 -> GBP/2: priced by the pool
            (7, "test.dave.y"),  # no connection: not ready
            (1, "test.c.sender.x"),  # converts to 0 (R01 from the fast path)
        ]:
            prepare = Prepare(amount, expiry, CONDITION, destination)
            assert not net.node.handle_now("sender", prepare, answers.append), destination
        assert answers == []
        books, records, ended = await net.books()
        assert isinstance(books, list)
        assert [(b.balance, b.pending_in, b.pending_out) for b in books] == [(0, 0, 0)] * 4
        assert (records, ended) == ([], [])
        done = asyncio.Event()

        def answered(answer: Fulfill | Reject) -> None:
            answers.append(answer)
            done.set()

        prepare = Prepare(100, expiry, CONDITION, "test.c.sender.x")  # USD/2 to USD/2
        assert net.node.handle_now("sender", prepare, answered)
        await asyncio.wait_for(done.wait(), 5)
        assert answers == [Fulfill(FULFILLMENT)]
        assert list(net.store._ended.values()) == [PacketState.FULFILLED]


# ---- random packets --------------------------------------------------------------------

DESTINATIONS = (
    "test.c.receiver.x",  # a child, over its link
    "test.c.receiver",
    "test.c.sender.back",  # back to the sender (refused when reflect=False)
    "test.bob.y",  # a peer that never answers: the connector's own R00
    "test.dave.y",  # a peer with no connection: T01
    "test.nowhere",  # no route: F02
    "test.c.nobody",  # under our address, no child: F02
    "test.c",  # our own address (echo: the chain)
    "peer.config",  # a peer protocol (the chain)
)
# Token buckets refill by the real clock at 1 unit a second: a scenario whose buckets live
# under a second gains less than one token, which no whole amount can tell from none.
buckets = st.none() | st.builds(
    TokenBucketSettings, refill_per_second=st.just(1), capacity=st.integers(1, 6000)
)
limits = st.fixed_dictionaries(
    {},
    optional={
        "max_packet_amount": st.sampled_from([0, 100, 5000]),
        "maximum": st.sampled_from([0, 100, 2000, 10**6, 10**6]),
        "minimum": st.sampled_from([-(10**6), -(10**6), -2000, -100, 0]),
        "packet_rate": buckets,
        "amount_rate": buckets,
    },
)
packets = st.builds(
    Packet,
    amount=st.sampled_from([0, 1, 7, 99, 100, 100, 1000, 1000, 5000, 2**63, 2**64 - 1]),
    expires_in=st.sampled_from([-1.0, 0.3, SHORT, 2.0, 2.0, 2.0, 20.0, 20.0]),
    # (the receiver, four times as likely as any other)
    destination=st.sampled_from(DESTINATIONS[:1] * 3 + DESTINATIONS),
    reply=st.sampled_from(["fulfil", "fulfil", "wrong", "reject", "hang_up", "late"]),
    data=st.sampled_from([b"", b"hello", ECHO_TO_SENDER]),
)


def few_waits(scenario: Scenario) -> Scenario:
    """At most one packet waiting for the connector's R00, none under rate limits, each
    with a short outgoing window (keeps a scenario well under a second)."""
    allowed = 0 if scenario.sender.get("packet_rate") or scenario.sender.get("amount_rate") else 1
    kept: list[Packet] = []
    for packet in scenario.packets:
        if packet.waits:
            if allowed:
                allowed -= 1
                packet = replace(packet, expires_in=SHORT)
            else:
                packet = replace(packet, destination="test.dave.y", reply="fulfil")
        kept.append(packet)
    return replace(scenario, packets=tuple(kept))


scenarios = st.builds(
    Scenario,
    sender=limits,
    receiver=st.builds(
        lambda lim, asset: {**lim, "asset_code": asset[0], "asset_scale": asset[1]},
        limits,
        st.sampled_from(FIXED_ASSETS + POOL_ASSETS),
    ),
    reflect=st.booleans(),
    packets=st.lists(packets, min_size=3, max_size=10).map(tuple),
).map(few_waits)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(scenarios)
async def test_direct_path_answers_random_packets_as_the_fast_path(scenario: Scenario) -> None:
    kw: dict[str, Any] = {
        "sender": scenario.sender,
        "receiver": scenario.receiver,
        "reflect": scenario.reflect,
    }
    direct, fast = await asyncio.gather(
        run(scenario.packets, direct=True, **kw), run(scenario.packets, direct=False, **kw)
    )
    # the premise of the rate limits above (a stalled machine makes the example void)
    assume(max(direct.seconds, fast.seconds) < 0.9)
    check(direct, fast)


# ---- many at once ----------------------------------------------------------------------


async def test_five_hundred_at_once_each_answered_once() -> None:
    """500 Prepares in flight through the direct path together: the receiver answers none
    until it holds all of them; each gets one answer, and the books add up."""
    count = 500
    async with connector(direct=True) as net:
        arrived: list[tuple[int, int]] = []
        all_in = asyncio.Event()

        async def answer(prepare: Prepare) -> Fulfill | Reject:
            arrived.append((prepare.amount, net.sender_link_tasks()))
            if len(arrived) == count:
                all_in.set()
            await asyncio.wait_for(all_in.wait(), 10)
            if prepare.data == b"no":
                return Reject("F99", "test.c.receiver", "no thanks")
            return Fulfill(FULFILLMENT)

        net.receiver.set_handler(answer)
        expiry = SystemClock().now() + timedelta(seconds=20)
        prepares = [
            Prepare(100 + i, expiry, CONDITION, f"test.c.receiver.{i}", b"no" if i % 5 else b"")
            for i in range(count)
        ]
        answers = await asyncio.wait_for(
            asyncio.gather(*(net.sender.send(p) for p in prepares)), 15
        )
        assert len(arrived) == count
        assert all(tasks == 0 for _, tasks in arrived)  # none went through a link's task
        fulfilled = [
            p.amount for p, a in zip(prepares, answers, strict=True) if isinstance(a, Fulfill)
        ]
        for prepare, got_back in zip(prepares, answers, strict=True):
            assert got_back == (
                Fulfill(FULFILLMENT)
                if prepare.data == b""
                else Reject("F99", "test.c.receiver", "no thanks")
            )
        assert len(fulfilled) == count // 5
        observed = net.observed.packet_ids
        assert len(observed) == len(set(observed)) == count  # one answer per packet
        sender = await net.store.get_balance("sender")
        receiver = await net.store.get_balance("receiver")
        out = sum(amount * 999 // 1000 for amount in fulfilled)
        assert (sender.balance, sender.pending_in, sender.pending_out) == (sum(fulfilled), 0, 0)
        assert (receiver.balance, receiver.pending_in, receiver.pending_out) == (-out, 0, 0)
        assert await net.store.pending_packets() == []
        ended = list(net.store._ended.values())
        assert ended.count(PacketState.FULFILLED) == count // 5
        assert ended.count(PacketState.REJECTED) == count - count // 5


async def test_expiries_out_of_arrival_order_end_on_time() -> None:
    """The direct path keeps the outgoing expiries of its flights in one queue in arrival
    order: a Prepare whose expiry comes before one still waiting (bob never answers), and
    one that comes after a later one was answered, each end at their own expiry."""
    async with connector(direct=True) as net:

        def prepare(seconds: float, destination: str) -> Prepare:
            expiry = SystemClock().now() + timedelta(seconds=seconds)
            return Prepare(7, expiry, CONDITION, destination)

        expired = Reject(ErrorCode.R00_TRANSFER_TIMED_OUT.value, ADDRESS, "packet expired.")
        assert await net.sender.send(prepare(20, "test.c.receiver.x")) == Fulfill(FULFILLMENT)
        loop = asyncio.get_running_loop()
        started = loop.time()
        # after an answered flight with a later expiry
        assert await asyncio.wait_for(net.sender.send(prepare(SHORT, "test.bob.y")), 5) == expired
        assert loop.time() - started < 3
        # before a flight still waiting (it ends when the test closes the connector)
        waiting = asyncio.ensure_future(net.sender.send(prepare(20, "test.bob.y")))
        short = net.sender.send(prepare(SHORT + 0.3, "test.bob.y"))
        started = loop.time()
        assert await asyncio.wait_for(short, 5) == expired
        assert SHORT + 0.3 - WINDOW.total_seconds() - 0.1 < loop.time() - started < 3
        assert not waiting.done()
        waiting.cancel()
        ended = list(net.store._ended.values())
        assert ended == [PacketState.FULFILLED, PacketState.EXPIRED, PacketState.EXPIRED]


async def test_expiries_past_the_queue_limit_get_alarms_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once `QUEUED_MAX` flights are queued for their expiry, the oldest unanswered ones get
    alarms of their own: each still ends once, at its expiry (bob never answers)."""
    monkeypatch.setattr(direct_path, "QUEUED_MAX", 4)
    async with connector(direct=True) as net:

        def prepare(seconds: float, destination: str) -> Prepare:
            expiry = SystemClock().now() + timedelta(seconds=seconds)
            return Prepare(7, expiry, CONDITION, destination)

        loop = asyncio.get_running_loop()
        started = loop.time()
        to = ["test.c.receiver.x", "test.bob.y"]
        sends = [net.sender.send(prepare(SHORT + 0.01 * i, to[i % 2])) for i in range(12)]
        answers = await asyncio.wait_for(asyncio.gather(*sends), 5)
        assert loop.time() - started < 3
        expired = Reject(ErrorCode.R00_TRANSFER_TIMED_OUT.value, ADDRESS, "packet expired.")
        assert answers == [expired if i % 2 else Fulfill(FULFILLMENT) for i in range(12)]
        ended = list(net.store._ended.values())
        assert sorted(ended) == sorted([PacketState.FULFILLED, PacketState.EXPIRED] * 6)
        assert await net.store.pending_packets() == []


BURST = [
    Packet(100, 5.0, "test.c.receiver.x", "fulfil"),
    Packet(99, 5.0, "test.c.receiver.y", "fulfil", b"no"),
    Packet(0, 5.0, "test.c.receiver", "fulfil"),
    Packet(7, 5.0, "test.c.sender.back", "fulfil"),
    Packet(7, 5.0, "test.c", "fulfil", ECHO_TO_SENDER),
    Packet(7, 5.0, "test.dave.y", "fulfil"),
    Packet(7, 5.0, "test.nowhere", "fulfil"),
    Packet(0, 5.0, "peer.config", "fulfil"),
]


async def burst(*, direct: bool) -> tuple[list[bytes], list[object]]:
    """Each of `BURST` ten times, all sent at once (with no limits, the order they are
    handled in changes no answer)."""
    async with connector(direct=direct) as net:

        async def answer(prepare: Prepare) -> Fulfill | Reject:
            if prepare.data == b"no":
                return Reject("F99", "test.c.receiver", "no thanks")
            return Fulfill(FULFILLMENT)

        net.receiver.set_handler(answer)
        expiry = SystemClock().now() + timedelta(seconds=5)
        sends = [
            net.sender.send(Prepare(p.amount, expiry, CONDITION, p.destination, p.data))
            for p in BURST * 10
        ]
        answers = await asyncio.wait_for(asyncio.gather(*sends), 10)
        assert len(net.observed.packet_ids) == len(set(net.observed.packet_ids)) == len(sends)
        books, records, ended = await net.books()
        assert isinstance(ended, list)
        return [masked(a) for a in answers], [books, records, sorted(ended)]  # ended in any order


async def test_a_burst_of_mixed_packets_ends_as_under_the_fast_path() -> None:
    """Direct and fallen-back Prepares in flight together: the same answer to each, the
    same books."""
    (direct, direct_books), (fast, fast_books) = await asyncio.gather(
        burst(direct=True), burst(direct=False)
    )
    assert direct == fast
    assert direct_books == fast_books
    assert sorted(
        {a.code if isinstance(a, Reject) else "" for a in map(decode_packet, direct)}
    ) == [
        "",
        "F01",
        "F02",
        "F99",
        "T01",
    ]


async def test_the_direct_path_keeps_the_order_of_arrival() -> None:
    """Two Prepares written together by the sender, an echo (the chain, in a task) then one
    the direct path takes; the sender's maximum leaves room for one: the first should get
    it, as under the fast path."""

    async def codes(direct: bool) -> list[str]:
        async with connector(direct=direct, sender={"maximum": 150}) as net:
            expiry = SystemClock().now() + timedelta(seconds=5)
            first = Prepare(100, expiry, CONDITION, "test.c", ECHO_TO_SENDER)
            second = Prepare(100, expiry, CONDITION, "test.c.sender.back")
            answers = await asyncio.wait_for(
                asyncio.gather(net.sender.send(first), net.sender.send(second)), 5
            )
            return [a.code if isinstance(a, Reject) else "" for a in answers]

    fast = await codes(False)
    assert fast == ["", "T04"]
    # while the echo waits for its task, the next Prepare of the connection does too
    assert await codes(True) == fast
