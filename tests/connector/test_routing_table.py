"""Longest segment-aligned prefix wins; configured routes beat learnt ones."""

from __future__ import annotations

import pytest

from ilpnet.connector import routing_table
from ilpnet.connector.routing_table import LOCAL, STATIC, Route, RoutingTable
from ilpnet.wire.errors import InvalidValueError


def test_longest_segment_aligned_prefix() -> None:
    table = RoutingTable(
        [Route("test", "default"), Route("test.alice", "alice"), Route("test.alice.x", "x")]
    )
    assert table.lookup("test.alice.x.y").next_hop == "x"  # type: ignore[union-attr]
    assert table.lookup("test.alice").next_hop == "alice"  # type: ignore[union-attr]
    assert table.lookup("test.alice.z").next_hop == "alice"  # type: ignore[union-attr]
    assert table.lookup("test.alice2").next_hop == "default"  # type: ignore[union-attr]
    assert table.lookup("g.alice") is None


def test_catch_all_prefix() -> None:
    table = RoutingTable([Route("", "up")])
    assert table.lookup("g.anything").next_hop == "up"  # type: ignore[union-attr]


def test_learnt_routes_and_withdrawal() -> None:
    table = RoutingTable()
    assert table.add_learnt("test.far", "p2", "p2", path=("test.p2", "test.q"))
    assert table.add_learnt("test.far", "p1", "p1", path=("test.p1",))  # shorter wins
    assert table.lookup("test.far.x") == Route("test.far", "p1", "p1", ("test.p1",))
    assert table.add_static("test.far", "mine")  # configured beats learnt
    assert table.lookup("test.far").next_hop == "mine"  # type: ignore[union-attr]
    assert not table.withdraw("test.far", "p1")  # best unchanged
    assert table.withdraw("test.far", STATIC)
    assert table.lookup("test.far").next_hop == "p2"  # type: ignore[union-attr]
    assert table.withdraw_source("p2") == ["test.far"]
    assert table.lookup("test.far") is None
    assert table.routes() == []


def test_candidates_and_routes_listing() -> None:
    table = RoutingTable([Route("test.b", "b"), Route("test.a", "a", LOCAL)])
    table.add_learnt("test.b", "c", "c")
    assert [r.prefix for r in table.routes()] == ["test.a", "test.b"]
    assert [r.source for r in table.candidates("test.b")] == [STATIC, "c"]


def test_bad_routes_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        Route("not an address", "x")
    with pytest.raises(InvalidValueError):
        Route("test.a", "")
    with pytest.raises(InvalidValueError):
        RoutingTable().add_learnt("test.a", "x", STATIC)


def test_priority_beats_path_length_among_learnt() -> None:
    table = RoutingTable()
    table.add_learnt("test.far", "parent", "parent", path=("x",), priority=0)
    table.add_learnt("test.far", "child", "child", path=("x", "y", "z"), priority=2)
    assert table.lookup("test.far").next_hop == "child"  # type: ignore[union-attr]


def test_lookups_follow_every_change_of_the_table() -> None:
    """Answers are kept per destination until the best routes change; every change shows
    at the next lookup of a destination asked before."""
    table = RoutingTable([Route("test.b", "b", STATIC)])
    dest = "test.b.carol.x"
    assert table.lookup(dest) == Route("test.b", "b", STATIC)
    assert table.lookup("test.nowhere") is None
    table.add_learnt("test.b.carol", "c", "c")  # more specific
    assert table.lookup(dest) == Route("test.b.carol", "c", "c")
    table.add_static("", "d")  # a catch-all
    assert table.lookup("test.nowhere") == Route("", "d", STATIC)
    table.withdraw("test.b.carol", "c")
    assert table.lookup(dest) == Route("test.b", "b", STATIC)
    table.withdraw_source(STATIC)
    assert table.lookup(dest) is None
    assert table.lookup("test.nowhere") is None


def test_kept_lookups_are_bounded() -> None:
    table = RoutingTable([Route("test", "a", STATIC)])
    for i in range(routing_table.LOOKUPS_KEPT + 10):
        assert table.lookup(f"test.x{i}") == Route("test", "a", STATIC)
    assert len(table._found) <= routing_table.LOOKUPS_KEPT
