"""`peer.*` packets are answered by the connector itself, never forwarded."""

from __future__ import annotations

from datetime import timedelta

from ilpnet.connector.accounts import AccountSettings
from ilpnet.wire.ildcp import PEER_PROTOCOL_CONDITION, IldcpRequest, IldcpResponse
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.connector.line import CONDITION, StoreFactory, line


async def test_ildcp_gives_a_child_its_address_and_asset(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        request = IldcpRequest.expiring(net.clock.now()).to_prepare()
        answer = await net.sender.send(request)
        assert isinstance(answer, Fulfill)
        assert IldcpResponse.from_fulfill(answer) == IldcpResponse("test.a.sender", 2, "USD")
        answer = await net.receiver_link.send(request)
        assert isinstance(answer, Fulfill)
        assert IldcpResponse.from_fulfill(answer) == IldcpResponse("test.c.receiver", 0, "JPY")
        assert all(v == 0 for v in (await net.balances()).values())


async def test_ildcp_segment_and_refusals(make_store: StoreFactory) -> None:
    async with line(make_store, sender={"ilp_address_segment": "alice"}) as net:
        request = IldcpRequest.expiring(net.clock.now()).to_prepare()
        answer = await net.sender.send(request)
        assert isinstance(answer, Fulfill)
        assert IldcpResponse.from_fulfill(answer).client_address == "test.a.alice"
        # Packets for the child's new address are routed to it locally.
        assert net.a.routing_table.lookup("test.a.alice.x") is not None
        # A peer is not a child: F00 (as the reference).
        peer = await net.b.handle("a", request)
        assert isinstance(peer, Reject)
        assert (peer.code, peer.triggered_by) == ("F00", "test.b")
        # Wrong condition: F01.
        wrong = request.with_changes(execution_condition=CONDITION)
        bad = await net.sender.send(wrong)
        assert isinstance(bad, Reject)
        assert (bad.code, bad.triggered_by) == ("F01", "test.a")


async def test_unknown_peer_protocol_is_f01(make_store: StoreFactory) -> None:
    async with line(make_store) as net:
        expires = net.clock.now() + timedelta(seconds=30)
        for destination in ("peer.unknown", "peer.route.control", "peer.settle"):
            answer = await net.sender.send(
                Prepare(0, expires, PEER_PROTOCOL_CONDITION, destination)
            )
            assert isinstance(answer, Reject), destination
            assert (answer.code, answer.triggered_by) == ("F01", "test.a")


async def test_route_and_settle_messages_go_to_their_handlers(make_store: StoreFactory) -> None:
    seen: list[tuple[str, str]] = []

    async def ccp(account: AccountSettings, prepare: Prepare) -> Fulfill | Reject:
        seen.append((account.id, prepare.destination))
        return Fulfill(bytes(32))

    async def settle(account: AccountSettings, prepare: Prepare) -> Fulfill | Reject:
        seen.append((account.id, prepare.data.decode()))
        return Fulfill(bytes(32), b"engine says hi")

    options = {"b": {"ccp": ccp, "settle_messages": settle}}
    async with line(make_store, connector_options=options) as net:
        expires = net.clock.now() + timedelta(seconds=30)
        update = Prepare(0, expires, PEER_PROTOCOL_CONDITION, "peer.route.update", b"routes")
        assert await net.b.handle("a", update) == Fulfill(bytes(32))
        message = Prepare(0, expires, PEER_PROTOCOL_CONDITION, "peer.settle", b"hello")
        assert await net.b.handle("c", message) == Fulfill(bytes(32), b"engine says hi")
        # Wrong condition on a route update: F01 before the handler sees it.
        bad = await net.b.handle("a", update.with_changes(execution_condition=CONDITION))
        assert isinstance(bad, Reject)
        assert bad.code == "F01"
        assert seen == [("a", "peer.route.update"), ("c", "hello")]
