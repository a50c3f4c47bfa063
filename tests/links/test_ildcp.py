"""A child learns its address and asset from its parent over a real BTP link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from ilpnet.clock import SystemClock
from ilpnet.links.btp import BtpAccount, BtpClientLink, BtpServer
from ilpnet.links.ildcp import IldcpFailed, fetch_config
from ilpnet.wire.errors import DecodeError, ErrorCode
from ilpnet.wire.ildcp import PEER_CONFIG, IldcpRequest, IldcpResponse, ildcp_reject
from ilpnet.wire.packet import Fulfill, Prepare, Reject

WAIT = 10.0


@asynccontextmanager
async def child_of(answer: Fulfill | Reject | None) -> AsyncIterator[BtpClientLink]:
    """A parent BtpServer whose handler answers peer.config with `answer` (or, when None,
    with the real config), and a child connected to it."""
    seen: list[Prepare] = []

    async def parent(prepare: Prepare) -> Fulfill | Reject:
        seen.append(prepare)
        IldcpRequest.from_prepare(prepare)  # a real parent checks the request
        if answer is not None:
            return answer
        return IldcpResponse("test.parent.kid", 9, "USD").to_fulfill()

    server = BtpServer([BtpAccount("kid", token="kid-token")], address="test.parent")
    port = await server.start("127.0.0.1", 0)
    server.link("kid").set_handler(parent)
    child = BtpClientLink(f"ws://127.0.0.1:{port}/", "parent", token="kid-token")
    try:
        await asyncio.wait_for(child.start(), WAIT)
        yield child
        assert all(p.destination == PEER_CONFIG and p.amount == 0 for p in seen)
    finally:
        await child.close()
        await server.close()


async def test_child_learns_address_and_asset() -> None:
    async with child_of(None) as child:
        config = await fetch_config(child)
    assert config == IldcpResponse("test.parent.kid", 9, "USD")


async def test_parent_refusal_raises_with_its_code() -> None:
    async with child_of(ildcp_reject("test.parent", "not a child")) as child:
        with pytest.raises(IldcpFailed, match="F00 not a child") as failed:
            await fetch_config(child, SystemClock())
    assert failed.value.code is ErrorCode.F00_BAD_REQUEST


async def test_unknown_reject_code_maps_to_f00() -> None:
    async with child_of(Reject("F42", "test.parent", "odd", b"")) as child:
        with pytest.raises(IldcpFailed) as failed:
            await fetch_config(child, SystemClock())
    assert failed.value.code is ErrorCode.F00_BAD_REQUEST
    assert failed.value.reject.code == "F42"


async def test_fulfill_that_is_not_ildcp_is_f01() -> None:
    async with child_of(Fulfill(bytes(range(32)), b"")) as child:
        with pytest.raises(DecodeError, match="zero fulfillment"):
            await fetch_config(child, SystemClock())


async def test_unconnected_parent_is_t01() -> None:
    child = BtpClientLink("ws://127.0.0.1:9/", "parent", token="t")
    with pytest.raises(IldcpFailed) as failed:
        await fetch_config(child, SystemClock())
    assert failed.value.code is ErrorCode.T01_PEER_UNREACHABLE
