from __future__ import annotations

import pytest

from ilpnet.connector.errors import UnreachableError
from ilpnet.connector.routing_table import Route, RoutingTable
from ilpnet.connector.steps.route import route
from tests.connector.steps.forwards import forward, fulfilled, settings

ACCOUNTS = {"alice": settings("alice"), "bob": settings("bob")}
TABLE = RoutingTable([Route("test.bob", "bob"), Route("test.alice", "alice")])


async def test_sets_the_outgoing_account() -> None:
    rest = fulfilled()
    await route("test.me", TABLE, ACCOUNTS)(forward(destination="test.bob.x"), rest)
    assert rest.seen[0].out_account == ACCOUNTS["bob"]


@pytest.mark.parametrize("destination", ["test.carol", "g.bob", "test.bob2"])
async def test_f02_without_route_or_on_the_other_network(destination: str) -> None:
    with pytest.raises(UnreachableError):
        await route("test.me", TABLE, ACCOUNTS)(forward(destination=destination), fulfilled())


async def test_reflection_only_when_allowed() -> None:
    back = forward(destination="test.alice.x")  # arrives from alice
    rest = fulfilled()
    await route("test.me", TABLE, ACCOUNTS)(back, rest)
    with pytest.raises(UnreachableError, match="back to the sender"):
        await route("test.me", TABLE, ACCOUNTS, reflect=False)(back, rest)


async def test_live_network_refuses_test_addresses() -> None:
    table = RoutingTable([Route("g", "bob"), Route("test", "bob")])
    rest = fulfilled()
    await route("g.me", table, ACCOUNTS)(forward(destination="g.x"), rest)
    with pytest.raises(UnreachableError, match="live network"):
        await route("g.me", table, ACCOUNTS)(forward(destination="test.x"), rest)


async def test_own_address_space_never_goes_out_by_a_default_route() -> None:
    table = RoutingTable([Route("test", "bob"), Route("test.me.alice", "alice")])
    rest = fulfilled()
    await route("test.me", table, ACCOUNTS)(forward(destination="test.me.alice.x"), rest)
    assert rest.seen[0].out_account == ACCOUNTS["alice"]
    for destination in ("test.me.nobody", "test.me"):
        with pytest.raises(UnreachableError, match="no route"):
            await route("test.me", table, ACCOUNTS)(forward(destination=destination), rest)
    await route("test.me", table, ACCOUNTS)(forward(destination="test.meow"), rest)
    assert rest.seen[-1].out_account == ACCOUNTS["bob"]
