"""ILP addresses (spec 01) against the shared vectors, plus grammar and prefix properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.wire.address import (
    ADDRESS_MAX_LENGTH,
    SCHEMES,
    address_prefixes,
    address_scheme,
    address_segments,
    child_address,
    is_valid_address,
    is_valid_prefix,
    is_valid_segment,
    starts_with_prefix,
    validate_address,
)
from ilpnet.wire.errors import ErrorCode, InvalidValueError
from ilpnet.wire.oer import Reader, encode_var_octets
from tests.spec_vectors import Vector, load_vectors

SEGMENT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~-"

segments = st.text(alphabet=SEGMENT_CHARS, min_size=1, max_size=12)
addresses = st.builds(
    lambda scheme, rest: ".".join([scheme, *rest]),
    st.sampled_from(sorted(SCHEMES)),
    st.lists(segments, min_size=1, max_size=6),
)


@pytest.mark.parametrize("v", load_vectors("ilp_addresses.json"))
def test_address_vector(v: Vector) -> None:
    address, raw = v["fields"]["address"], bytes.fromhex(v["hex"])
    assert len(address.encode()) == v["fields"]["length"]
    assert Reader(raw).read_var_octets() == address.encode()
    if v.get("expect_error"):
        assert v["fields"]["valid"] is False
        assert not is_valid_address(address)
        with pytest.raises(InvalidValueError) as info:
            validate_address(address)
        assert info.value.code is ErrorCode.F01_INVALID_PACKET
        return
    assert v["fields"]["valid"] is True
    assert is_valid_address(address)
    assert validate_address(address) == address
    assert encode_var_octets(address.encode("ascii")) == raw


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("", "empty"),
        ("g", "at least one segment"),
        ("g.", "at least one segment"),
        ("test4.alice", "unknown allocation scheme 'test4'"),
        ("G.bob", "unknown allocation scheme 'G'"),
        ("g..bob", "segment 2 is empty"),
        ("g.bob.", "segment 3 is empty"),
        ("g.bob smith", "segment 2 contains ' '"),
        ("test.a.b\u00f6b", "segment 3 contains '\u00f6'"),
        ("g." + "a" * 1022, "1024 characters, at most 1023"),
    ],
)
def test_validate_address_names_the_problem(address: str, problem: str) -> None:
    with pytest.raises(InvalidValueError, match=problem):
        validate_address(address)


def test_address_scheme() -> None:
    assert address_scheme("g.acme.bob") == "g"
    assert address_scheme("test1.x") == "test1"
    assert address_scheme("peer.config") == "peer"
    assert address_scheme("test") == "test"  # a bare scheme, as used for default routes
    with pytest.raises(InvalidValueError, match="unknown allocation scheme 'test4'"):
        address_scheme("test4.alice")


@pytest.mark.parametrize(
    ("address", "prefix", "matches"),
    [
        ("test.alice", "test.alice", True),
        ("test.alice.x", "test.alice", True),
        ("test.alice2", "test.alice", False),
        ("test.alice", "test.alice.x", False),
        ("test.alice", "test", True),
        ("test1.alice", "test", False),
        ("g.x", "test", False),
        ("test.alice", "", True),
        ("test.alice", "test.", False),
    ],
)
def test_starts_with_prefix(address: str, prefix: str, matches: bool) -> None:
    assert starts_with_prefix(address, prefix) is matches


@given(addresses, addresses)
@settings(max_examples=300)
def test_prefix_match_is_segment_prefix(address: str, other: str) -> None:
    # A prefix matches exactly when its segments are the first segments of the address.
    a, p = address_segments(address), address_segments(other)
    assert starts_with_prefix(address, other) is (a[: len(p)] == p)
    for prefix in address_prefixes(address):
        assert starts_with_prefix(address, prefix)


def test_address_prefixes_longest_first() -> None:
    assert list(address_prefixes("test.a.b")) == ["test.a.b", "test.a", "test"]
    assert list(address_prefixes("test")) == ["test"]


def test_child_address() -> None:
    assert child_address("test.conn", "alice") == "test.conn.alice"
    with pytest.raises(InvalidValueError, match="invalid address segment"):
        child_address("test.conn", "a.b")
    with pytest.raises(InvalidValueError, match="invalid address segment"):
        child_address("test.conn", "")
    with pytest.raises(InvalidValueError, match="invalid ILP address"):
        child_address("nope.conn", "alice")
    parent = "g." + "a" * 1015
    assert len(child_address(parent, "bcdef")) == ADDRESS_MAX_LENGTH
    with pytest.raises(InvalidValueError, match="1024 characters"):
        child_address(parent, "bcdefg")


def test_segments_and_prefixes() -> None:
    assert is_valid_segment("a_b~c-D9")
    assert not is_valid_segment("")
    assert not is_valid_segment("a.b")
    assert address_segments("test.a.b") == ["test", "a", "b"]
    assert is_valid_prefix("")
    assert is_valid_prefix("test")
    assert is_valid_prefix("test.alice")
    assert not is_valid_prefix("test.")
    assert not is_valid_prefix("nope")


@given(addresses)
@settings(max_examples=300)
def test_generated_addresses_are_valid(address: str) -> None:
    assert is_valid_address(address) is (len(address) <= ADDRESS_MAX_LENGTH)


@given(addresses, st.data())
@settings(max_examples=300)
def test_any_forbidden_character_invalidates(address: str, data: st.DataObject) -> None:
    bad = data.draw(
        st.characters(exclude_characters=SEGMENT_CHARS + ".", exclude_categories=["Cs"])
    )
    at = data.draw(st.integers(min_value=0, max_value=len(address)))
    mutated = address[:at] + bad + address[at:]
    assert not is_valid_address(mutated)
    with pytest.raises(InvalidValueError):
        validate_address(mutated)
