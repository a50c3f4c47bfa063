"""Three connectors in a line, A–B–C over memory links, across three assets, with every store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ilpnet.connector.accounts import Relation
from ilpnet.connector.store import PacketState
from ilpnet.links.memory import memory_link_pair
from ilpnet.wire.packet import AmountTooLargeData, Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, FULFILLMENT, StoreFactory, account, line


async def test_payment_across_three_assets(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        start = net.clock.now()
        answer = await net.pay(1000)  # 10.00 USD
        assert answer == Fulfill(FULFILLMENT, b"thanks")
        # A: pool USD 1000 / EUR 900, spread 0.002: 900*9.98/1009.98 EUR = 8.893245… EUR
        # B: EUR→EUR minus 0.1 %: 8 893 245 * 0.999 = 8 884 351.7 → 8 884 351
        # C: 160 JPY per EUR: 8.884351 * 160 = 1421.496… → 1421 JPY
        (got,) = net.receiver.got
        assert got.amount == 1421
        assert got.expires_at == start + timedelta(seconds=27)  # 30 s minus 1 s per hop
        assert got.execution_condition == CONDITION
        assert await net.balances() == {
            "a.sender": 1000,
            "a.b": -8_893_245,
            "b.a": 8_893_245,
            "b.c": -8_884_351,
            "c.b": 8_884_351,
            "c.receiver": -1421,
        }
        assert await net.pending() == 0
        for node in (net.a, net.b, net.c):
            for b in await node.store.all_balances():
                assert (b.pending_in, b.pending_out) == (0, 0)


async def test_selling_drains_the_price(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        received = []
        for _ in range(4):
            assert isinstance(await net.pay(10_000), Fulfill)  # 100 USD each
            received.append(net.receiver.got[-1].amount)
        # Each sale of USD for EUR at A leaves it more USD and less EUR: the next pays less.
        assert received == sorted(received, reverse=True)
        assert len(set(received)) == 4
        first_eur = (await net.b.store.get_balance("a")).balance
        assert first_eur > 0


async def test_no_route_is_f02_from_the_connector_that_has_none(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        answer = await net.pay(100, "test.b.nowhere")
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("F02", "test.b")
        assert "destination=test.b.nowhere" in answer.message
        live = await net.pay(100, "g.elsewhere")
        assert isinstance(live, Reject)
        assert (live.code, live.triggered_by) == ("F02", "test.a")
        assert all(v == 0 for v in (await net.balances()).values())


async def test_f08_with_data(make_store: StoreFactory) -> None:
    async with line(make_store, sender={"max_packet_amount": 500}) as net:
        answer = await net.pay(501)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("F08", "test.a")
        assert AmountTooLargeData.decode(answer.data) == AmountTooLargeData(501, 500)
        assert isinstance(await net.pay(500), Fulfill)


async def test_t04_over_maximum_then_room_after_reject(make_store: StoreFactory) -> None:
    async with line(make_store, sender={"maximum": 1500}) as net:
        assert isinstance(await net.pay(1000), Fulfill)
        answer = await net.pay(501)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T04", "test.a")
        assert (await net.a.store.get_balance("sender")).balance == 1000
        assert isinstance(await net.pay(500), Fulfill)


async def test_t04_when_we_would_owe_the_next_hop_too_much(make_store: StoreFactory) -> None:
    async with line(make_store, a_to_b={"minimum": -10_000_000}) as net:
        assert isinstance(await net.pay(1000), Fulfill)  # A now owes B 8.89 EUR
        answer = await net.pay(200)  # another ~1.7 EUR would pass -10 EUR
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T04", "test.a")
        assert (await net.a.store.get_balance("sender")).balance == 1000
        assert await net.pending() == 0


async def test_r00_expired_on_arrival(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        answer = await net.sender.send(net.prepare(100, seconds=0))
        assert isinstance(answer, Reject)
        # The memory link itself gives up at the expiry, so this shows what A says when the
        # packet reaches it already expired: call A directly.
        stale = Prepare(100, net.clock.now() - timedelta(seconds=1), CONDITION, "test.c.x")
        direct = await net.a.handle("sender", stale)
        assert isinstance(direct, Reject)
        assert (direct.code, direct.triggered_by) == ("R00", "test.a")


async def test_r02_too_little_time_left(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        answer = await net.sender.send(net.prepare(100, seconds=3.5))
        # A keeps 1 s (2.5 left for B), B keeps 1 s (1.5 left for C), C needs 2 s: R02 at C.
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("R02", "test.c")
        early = await net.sender.send(net.prepare(100, seconds=1.5))
        assert isinstance(early, Reject)
        assert (early.code, early.triggered_by) == ("R02", "test.a")
        assert all(v == 0 for v in (await net.balances()).values())
        assert await net.pending() == 0


async def test_r01_amount_converts_to_zero(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        # 1 USD cent → 8 893 EUR micro at A → 8 884 at B → 8 884e-6 * 160 JPY = 1.42 → 1 JPY.
        assert isinstance(await net.pay(1), Fulfill)
        # 0.5 cent is not a thing; but a tiny EUR amount from B's side converts to 0 JPY at C.
        tiny = Prepare(1000, net.clock.now() + timedelta(seconds=30), CONDITION, "test.c.receiver")
        answer = await net.c.handle("b", tiny)  # 0.001 EUR = 0.16 JPY
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("R01", "test.c")


async def test_f05_wrong_fulfillment_is_never_passed_on(make_store: StoreFactory) -> None:
    async with line(make_store) as net:

        async def cheat(p: Prepare) -> Fulfill | Reject:
            return Fulfill(bytes(32))

        net.receiver.answer = cheat
        answer = await net.pay(1000)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("F05", "test.c")
        assert all(v == 0 for v in (await net.balances()).values())


async def test_reject_from_receiver_is_relayed_unchanged(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        refusal = Reject("F99", "test.c.receiver", "no thanks", b"\x01\x02")

        async def refuse(p: Prepare) -> Fulfill | Reject:
            return refusal

        net.receiver.answer = refuse
        assert await net.pay(1000) == refusal
        assert all(v == 0 for v in (await net.balances()).values())
        assert await net.pending() == 0


async def test_t01_when_the_next_link_is_gone(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        await net.receiver_link.close()
        answer = await net.pay(1000)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T01", "test.c")
        net.b.detach("c")
        answer = await net.pay(1000)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T01", "test.b")
        assert all(v == 0 for v in (await net.balances()).values())


async def test_t05_packet_rate_limit(make_store: StoreFactory) -> None:
    limit = {"packet_rate": {"refill_per_second": 2, "capacity": 2}}
    async with line(make_store, sender=limit) as net:
        assert isinstance(await net.pay(10), Fulfill)
        assert isinstance(await net.pay(10), Fulfill)
        answer = await net.pay(10)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T05", "test.a")
        net.clock.advance(0.5)  # one token back
        assert isinstance(await net.pay(10), Fulfill)


async def test_t04_amount_rate_limit(make_store: StoreFactory) -> None:
    limit = {"amount_rate": {"refill_per_second": 100, "capacity": 1000}}
    async with line(make_store, sender=limit) as net:
        assert isinstance(await net.pay(800), Fulfill)
        answer = await net.pay(300)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T04", "test.a")
        assert "bandwidth" in answer.message
        net.clock.advance(1)
        assert isinstance(await net.pay(300), Fulfill)


async def test_r00_timeout_rolls_back_and_late_fulfill_is_not_paid(
    make_store: StoreFactory,
) -> None:
    async with line(make_store) as net:
        arrived = asyncio.Event()
        release = asyncio.Event()
        answered = asyncio.Event()

        async def late(p: Prepare) -> Fulfill | Reject:
            arrived.set()
            await release.wait()
            answered.set()
            return Fulfill(FULFILLMENT)

        net.receiver.answer = late
        paying = asyncio.create_task(net.pay(1000))
        await asyncio.wait_for(arrived.wait(), 5)
        assert await net.pending() == 3
        net.clock.advance(27)  # C's outgoing expiry
        answer = await asyncio.wait_for(paying, 5)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("R00", "test.c")
        release.set()  # the receiver fulfils too late
        await asyncio.wait_for(answered.wait(), 5)
        for _ in range(5):
            await asyncio.sleep(0)
        assert all(v == 0 for v in (await net.balances()).values())
        assert await net.pending() == 0


async def test_fulfill_after_another_worker_expired_the_packet(
    make_store: StoreFactory,
) -> None:
    """A sweeper (here: `recover` at the expiry) ends the packet first; the fulfill that then
    arrives is not paid and upstream gets R00 — never both."""
    async with line(make_store) as net:
        arrived = asyncio.Event()
        release = asyncio.Event()

        async def held(p: Prepare) -> Fulfill | Reject:
            arrived.set()
            await release.wait()
            return Fulfill(FULFILLMENT)

        net.receiver.answer = held
        paying = asyncio.create_task(net.pay(1000))
        await asyncio.wait_for(arrived.wait(), 5)
        (in_flight,) = await net.c.store.pending_packets()
        # Another worker of C, sharing its store, ends the packet (as its recovery would).
        assert await net.c.store.finish_packet(in_flight.packet_id, PacketState.EXPIRED)
        release.set()
        answer = await asyncio.wait_for(paying, 5)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("R00", "test.c")
        assert all(v == 0 for v in (await net.balances()).values())


async def test_accounts_added_and_removed_at_run_time(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        net.c.add_account(account("carol", Relation.CHILD, "JPY", 0))
        carol_end, c_carol = memory_link_pair("c", "carol", net.clock)
        net.c.attach(c_carol)

        async def carol(p: Prepare) -> Fulfill | Reject:
            return Fulfill(FULFILLMENT)

        carol_end.set_handler(carol)
        assert isinstance(await net.pay(1000, "test.c.carol"), Fulfill)
        net.c.remove_account("carol")
        answer = await net.pay(1000, "test.c.carol")
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("F02", "test.c")


async def test_concurrent_mixed_outcomes_keep_neighbours_books_in_agreement(
    make_store: StoreFactory,
) -> None:
    """Many payments at once, some fulfilled, some refused by the receiver, some over the
    sender's limit: afterwards each pair of neighbours agrees on their balance, and
    nothing is left reserved or in flight."""
    async with line(make_store, sender={"maximum": 30_000}) as net:

        async def odd_refused(p: Prepare) -> Fulfill | Reject:
            if p.amount % 2:
                return Reject("F99", "test.c.receiver", "odd")
            await asyncio.sleep(0)
            return Fulfill(FULFILLMENT)

        net.receiver.answer = odd_refused
        amounts = [100 + 37 * i for i in range(60)]
        answers = await asyncio.gather(*(net.pay(a) for a in amounts))
        codes = {a.code if isinstance(a, Reject) else "fulfilled" for a in answers}
        assert codes <= {"fulfilled", "F99", "T04"}
        assert "fulfilled" in codes
        books = await net.balances()
        assert books["a.b"] == -books["b.a"]
        assert books["b.c"] == -books["c.b"]
        fulfilled_in = sum(
            amount
            for amount, answer in zip(amounts, answers, strict=True)
            if isinstance(answer, Fulfill)
        )
        assert books["a.sender"] == fulfilled_in <= 30_000
        assert books["c.receiver"] == -sum(p.amount for p in net.receiver.got if p.amount % 2 == 0)
        assert await net.pending() == 0
        for node in (net.a, net.b, net.c):
            for b in await node.store.all_balances():
                assert (b.pending_in, b.pending_out) == (0, 0)


async def test_largest_amount_is_refused_cleanly(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        answer = await net.pay(2**64 - 1)
        assert isinstance(answer, Reject)
        assert (answer.code, answer.triggered_by) == ("T04", "test.a")
        assert await net.pending() == 0
