"""CCP route control / update codecs against the shared vectors, plus property tests."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.wire.ccp import (
    NO_ROUTING_TABLE,
    PEER_ROUTE_CONTROL,
    PEER_ROUTE_UPDATE,
    CcpRequest,
    Mode,
    PropFlag,
    Route,
    RouteControlRequest,
    RouteProp,
    RouteUpdateRequest,
    ccp_request_from_prepare,
    ccp_response,
)
from ilpnet.wire.errors import DecodeError, InvalidValueError
from ilpnet.wire.ildcp import PEER_PROTOCOL_CONDITION, PEER_PROTOCOL_FULFILLMENT
from ilpnet.wire.packet import Fulfill, Prepare
from tests.spec_vectors import Vector, load_vectors

EXPIRY = datetime(2015, 6, 16, 0, 1, tzinfo=UTC)
UINT32_MAX = 2**32 - 1


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def _prop(p: dict[str, Any]) -> RouteProp:
    value = p["value"].encode("utf-8") if p["isUtf8"] else bytes.fromhex(p["value"])
    return RouteProp(
        p["id"],
        value,
        is_optional=p["isOptional"],
        is_transitive=p["isTransitive"],
        is_partial=p["isPartial"],
        is_utf8=p["isUtf8"],
    )


def _route(r: dict[str, Any]) -> Route:
    props = tuple(_prop(p) for p in r["props"])
    return Route(r["prefix"], tuple(r["path"]), bytes.fromhex(r["auth"]), props)


def ccp_from(f: dict[str, Any]) -> CcpRequest:
    """The request a vector's `fields` describe."""
    if f["msg_type"] == "route_control":
        return RouteControlRequest(
            Mode(f["mode"]),
            UUID(f["lastKnownRoutingTableId"]),
            f["lastKnownEpoch"],
            tuple(f["features"]),
        )
    assert f["msg_type"] == "route_update"
    return RouteUpdateRequest(
        UUID(f["routingTableId"]),
        f["currentEpochIndex"],
        f["fromEpochIndex"],
        f["toEpochIndex"],
        f["holdDownTime"],
        f["speaker"],
        tuple(_route(r) for r in f["newRoutes"]),
        tuple(f["withdrawnRoutes"]),
    )


@pytest.mark.parametrize("v", load_vectors("ccp.json"))
def test_ccp_vector(v: Vector) -> None:
    raw, f = bytes.fromhex(v["hex"]), v["fields"]
    assert not v.get("expect_error")  # the file has none; they would need handling here
    if f["msg_type"] == "response":
        assert f["layer"] == "ilp_fulfill"
        want = Fulfill(bytes.fromhex(f["fulfillment"]), bytes.fromhex(f["data"]))
        assert Fulfill.decode(raw) == want == ccp_response()
        assert ccp_response().encode() == raw
        return
    want_request = ccp_from(f)
    cls = type(want_request)
    if f["layer"] == "payload":
        assert cls.decode(raw) == want_request
        if not v.get("decode_only"):
            assert want_request.encode() == raw
        return
    assert f["layer"] == "ilp_prepare"
    ilp = f["ilp"]
    prepare = Prepare.decode(raw)
    assert prepare.amount == int(ilp["amount"])
    assert prepare.expires_at == _iso(ilp["expiresAt"])
    assert prepare.execution_condition.hex() == ilp["executionCondition"]
    assert prepare.destination == ilp["destination"] == cls.DESTINATION
    assert cls.from_prepare(prepare) == want_request
    assert cls.decode_prepare(raw) == want_request
    assert ccp_request_from_prepare(prepare) == want_request
    if not v.get("decode_only"):
        assert want_request.to_prepare(prepare.expires_at) == prepare
        assert want_request.encode_prepare(_iso(ilp["expiresAt"])) == raw


def test_prop_meta_matches_reference_bits() -> None:
    text = RouteProp.text(0, "hello world")
    assert text.meta == PropFlag.TRANSITIVE | PropFlag.UTF8 == 0x50
    assert text.encode().hex() == "5000000b68656c6c6f20776f726c64"
    partial = RouteProp(1, b"\xa0" * 4, is_optional=True, is_partial=True)
    assert partial.meta == 0xE0
    assert RouteProp(2, b"", is_optional=True, is_transitive=False).meta == PropFlag.OPTIONAL


def test_fresh_node_control_defaults() -> None:
    request = RouteControlRequest(Mode.SYNC)
    assert request.last_known_routing_table_id == NO_ROUTING_TABLE == UUID(int=0)
    assert request.encode().hex() == "01" + "00" * 16 + "00000000" + "0100"


def test_dispatch_by_destination() -> None:
    control = RouteControlRequest(Mode.IDLE).to_prepare(EXPIRY)
    update = RouteUpdateRequest(UUID(int=7), 1, 0, 1, 45000, "test.a").to_prepare(EXPIRY)
    assert control.destination == PEER_ROUTE_CONTROL
    assert update.destination == PEER_ROUTE_UPDATE
    assert control.amount == update.amount == 0
    assert control.execution_condition == PEER_PROTOCOL_CONDITION
    assert isinstance(ccp_request_from_prepare(control), RouteControlRequest)
    assert isinstance(ccp_request_from_prepare(update), RouteUpdateRequest)
    assert ccp_response().fulfillment == PEER_PROTOCOL_FULFILLMENT


# ---- refusals ------------------------------------------------------------------------


def test_wrong_destination_and_condition_are_refused() -> None:
    data = RouteControlRequest(Mode.SYNC).encode()
    to_update = Prepare(0, EXPIRY, PEER_PROTOCOL_CONDITION, PEER_ROUTE_UPDATE, data)
    with pytest.raises(DecodeError, match="expected destination"):
        RouteControlRequest.from_prepare(to_update)
    wrong_condition = Prepare(0, EXPIRY, bytes(32), PEER_ROUTE_CONTROL, data)
    with pytest.raises(DecodeError, match="peer-protocol condition"):
        RouteControlRequest.decode_prepare(wrong_condition.encode())
    elsewhere = Prepare(0, EXPIRY, PEER_PROTOCOL_CONDITION, "peer.config", data)
    with pytest.raises(DecodeError, match="not a CCP destination"):
        ccp_request_from_prepare(elsewhere)


def _update_with_prop(meta: int, value: bytes) -> bytes:
    """A route update whose single route has one property written by hand."""
    update = RouteUpdateRequest(
        UUID(int=1), 1, 0, 1, 30000, "test.a", (Route("test.b", ("test.a",), bytes(32)),)
    )
    raw = update.encode()
    marker = bytes(32) + b"\x01\x00"  # auth, then props count 0
    prop = bytes((meta,)) + b"\x00\x05" + bytes((len(value),)) + value
    assert raw.count(marker) == 1
    return raw.replace(marker, bytes(32) + b"\x01\x01" + prop)


def test_hand_written_prop_decodes() -> None:
    update = RouteUpdateRequest.decode(_update_with_prop(0xD0, b"caf\xc3\xa9"))
    (prop,) = update.new_routes[0].props
    assert prop == RouteProp(5, "café".encode(), is_optional=True, is_utf8=True)


@pytest.mark.parametrize(
    ("meta", "value", "reason"),
    [
        (0x41, b"", "reserved bits"),
        (0x48, b"", "reserved bits"),
        (0x00, b"", "always transitive"),
        (0x60, b"", "partial"),
        (0xA0, b"", "partial"),
        (0x50, b"\xc3\x28", "not UTF-8"),
    ],
)
def test_non_canonical_props_are_refused(meta: int, value: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        RouteUpdateRequest.decode(_update_with_prop(meta, value))


CONTROL = "01" + "70d1a134a0df4f47964f6e19e2ab3790" + "00000020"
UPDATE_HEAD = "21e55f8eabcd4e979ab9bf0ff00a224c" + "00000034" * 3 + "00007530"


@pytest.mark.parametrize(
    ("cls", "hex_", "reason"),
    [
        (RouteControlRequest, "02" + CONTROL[2:] + "0100", "mode"),
        (RouteControlRequest, CONTROL, "features count"),
        (RouteControlRequest, CONTROL + "0101", "features count of 1"),
        (RouteControlRequest, CONTROL + "020001" + "00", "leading zero"),
        (RouteControlRequest, CONTROL + "010102c328", "UTF-8"),
        (RouteControlRequest, CONTROL[:20], "lastKnownRoutingTableId"),
        (RouteUpdateRequest, UPDATE_HEAD, "speaker"),
        (RouteUpdateRequest, UPDATE_HEAD + "0d" + "61" * 12, "speaker"),
        (RouteUpdateRequest, UPDATE_HEAD + "01ff" + "0100" + "0100", "not ASCII"),
        (RouteUpdateRequest, UPDATE_HEAD + "0161" + "0101" + "0100", "newRoutes count"),
        (RouteUpdateRequest, UPDATE_HEAD + "0161" + "0100", "withdrawn prefix count"),
        (RouteUpdateRequest, UPDATE_HEAD + "0161" + "0100" + "0102" + "0162", "withdrawn"),
        (RouteUpdateRequest, UPDATE_HEAD + "0161" + "0100" + "00", "zero-length"),
    ],
)
def test_malformed_payloads_are_refused(cls: type[CcpRequest], hex_: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        cls.decode(bytes.fromhex(hex_))


def test_bytes_after_known_fields_are_ignored() -> None:
    control = RouteControlRequest(Mode.SYNC, UUID(int=3), 9, ("x",))
    assert RouteControlRequest.decode(control.encode() + b"\xff\x00") == control
    update = RouteUpdateRequest(UUID(int=4), 2, 1, 2, 45000, "test.s", (), ("test.gone",))
    assert RouteUpdateRequest.decode(update.encode() + b"\x07") == update


@pytest.mark.parametrize(
    "build",
    [
        lambda: RouteControlRequest(2),  # type: ignore[arg-type]
        lambda: RouteControlRequest(Mode.SYNC, "0" * 32),  # type: ignore[arg-type]
        lambda: RouteControlRequest(Mode.SYNC, last_known_epoch=UINT32_MAX + 1),
        lambda: RouteControlRequest(Mode.SYNC, features=["a"]),  # type: ignore[arg-type]
        lambda: RouteUpdateRequest(UUID(int=1), -1, 0, 0, 0, "test.a"),
        lambda: RouteUpdateRequest(UUID(int=1), 0, 0, 0, 0, "test.é"),
        lambda: RouteUpdateRequest(UUID(int=1), 0, 0, 0, 0, "test.a", ("r",)),  # type: ignore[arg-type]
        lambda: RouteUpdateRequest(UUID(int=1), 0, 0, 0, 0, "test.a", (), ("é",)),
        lambda: Route("test.a", ("test.b",), bytes(31)),
        lambda: Route("test.a", ["test.b"], bytes(32)),  # type: ignore[arg-type]
        lambda: RouteProp(UINT32_MAX, b""),
        lambda: RouteProp(1, b"", is_transitive=False),
        lambda: RouteProp(1, b"", is_optional=True, is_transitive=False, is_partial=True),
        lambda: RouteProp(1, b"\xff", is_utf8=True),
        lambda: RouteProp(1, "text"),  # type: ignore[arg-type]
        lambda: RouteControlRequest(Mode.SYNC).to_prepare(datetime(2020, 1, 1)),  # noqa: DTZ001
    ],
)
def test_invalid_values_are_refused(build: Any) -> None:
    with pytest.raises(InvalidValueError):
        build()


# ---- properties ----------------------------------------------------------------------

ascii_text = st.text(st.characters(max_codepoint=127), max_size=10)
epochs = st.integers(0, UINT32_MAX)


@st.composite
def props(draw: st.DrawFn) -> RouteProp:
    optional = draw(st.booleans())
    transitive = draw(st.booleans()) if optional else True
    partial = draw(st.booleans()) if optional and transitive else False
    utf8 = draw(st.booleans())
    value = draw(st.text(max_size=8)).encode() if utf8 else draw(st.binary(max_size=8))
    return RouteProp(
        draw(st.integers(0, 0xFFFF)),
        value,
        is_optional=optional,
        is_transitive=transitive,
        is_partial=partial,
        is_utf8=utf8,
    )


routes = st.builds(
    Route,
    ascii_text,
    st.lists(ascii_text, max_size=3).map(tuple),
    st.binary(min_size=32, max_size=32),
    st.lists(props(), max_size=2).map(tuple),
)
controls = st.builds(
    RouteControlRequest,
    st.sampled_from(Mode),
    st.uuids(),
    epochs,
    st.lists(st.text(max_size=6), max_size=3).map(tuple),
)
updates = st.builds(
    RouteUpdateRequest,
    st.uuids(),
    epochs,
    epochs,
    epochs,
    epochs,
    ascii_text,
    st.lists(routes, max_size=3).map(tuple),
    st.lists(ascii_text, max_size=3).map(tuple),
)
requests: st.SearchStrategy[CcpRequest] = st.one_of(controls, updates)


@settings(max_examples=300)
@given(requests, st.datetimes(timezones=st.just(UTC)))
def test_round_trip(request: CcpRequest, expires_at: datetime) -> None:
    cls = type(request)
    assert cls.decode(request.encode()) == request
    assert cls.decode_prepare(request.encode_prepare(expires_at)) == request
    assert ccp_request_from_prepare(request.to_prepare(expires_at)) == request


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_random_bytes_raise_only_decode_error(raw: bytes) -> None:
    for decode in (
        RouteControlRequest.decode,
        RouteUpdateRequest.decode,
        RouteControlRequest.decode_prepare,
        RouteUpdateRequest.decode_prepare,
    ):
        with contextlib.suppress(DecodeError):
            decode(raw)


@settings(max_examples=300)
@given(requests, st.data())
def test_mutated_payloads_raise_only_decode_error(request: CcpRequest, data: st.DataObject) -> None:
    raw = bytearray(request.encode())
    i = data.draw(st.integers(0, len(raw) - 1))
    op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if op == "flip":
        raw[i] ^= data.draw(st.integers(1, 255))
    elif op == "cut":
        del raw[i:]
    else:
        raw.insert(i, data.draw(st.integers(0, 255)))
    cls = type(request)
    with contextlib.suppress(DecodeError):
        got = cls.decode(bytes(raw))
        assert cls.decode(got.encode()) == got
