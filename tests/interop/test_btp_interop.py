"""Our BTP against the JavaScript reference, `ilp-plugin-btp` from npm, in both directions."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from ilpnet.clock import SystemClock
from ilpnet.links.btp import (
    BtpAccount,
    BtpAuthError,
    BtpClientLink,
    BtpRequestError,
    BtpServer,
)
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from tests.interop.npm_reference import JS_DIR, node_script, read_json_line, require_npm_packages

pytestmark = pytest.mark.interop

WAIT = 60.0  # node start-up is slow on a loaded machine


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return require_npm_packages()


@asynccontextmanager
async def node(
    node_modules: Path, script: str, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    async with node_script(node_modules, JS_DIR / script, *args) as proc:
        yield proc


async def test_js_child_and_our_server_fulfil_each_others_prepares(node_modules: Path) -> None:
    preimage, child_preimage = os.urandom(32), os.urandom(32)
    condition = hashlib.sha256(preimage).digest()
    seen: list[Prepare] = []

    async def fulfil(prepare: Prepare) -> Fulfill | Reject:
        seen.append(prepare)
        if prepare.execution_condition != condition:
            return Reject("F05", "test.parent", "wrong condition", b"")
        return Fulfill(preimage, b"fulfilled by python")

    server = BtpServer([BtpAccount("js-child", token="js-secret")], address="test.parent")
    port = await server.start("127.0.0.1", 0)
    child = server.link("js-child")
    child.set_handler(fulfil)
    url = f"btp+ws://:js-secret@127.0.0.1:{port}/"
    args = (url, condition.hex(), "1234", child_preimage.hex())
    try:
        async with node(node_modules, "btp_child.js", *args) as proc:
            # (1) the JS child pays through us: we fulfil, it checks the fulfillment
            assert (await read_json_line(proc))["reply"] == {
                "type": 13,
                "fulfillment": preimage.hex(),
                "data": "fulfilled by python",
                "fulfillmentMatches": True,
            }
            # (2) we pay the JS child: it fulfils
            to_child = Prepare(
                55,
                SystemClock().now() + timedelta(seconds=30),
                hashlib.sha256(child_preimage).digest(),
                "test.parent.js-child",
                b"hello child",
            )
            reply = await asyncio.wait_for(child.send(to_child), WAIT)
            assert reply == Fulfill(child_preimage, b"child fulfilled")
            assert (await read_json_line(proc))["incoming"] == {
                "amount": "55",
                "destination": "test.parent.js-child",
                "data": "hello child",
            }
            assert proc.stdin is not None
            proc.stdin.close()
            await asyncio.wait_for(proc.wait(), WAIT)
            assert proc.returncode == 0
    finally:
        await server.close()
    [prepare] = seen
    assert prepare.amount == 1234
    assert prepare.destination == "test.parent.receiver"
    assert prepare.data == b"hello from javascript"


async def test_our_client_sends_a_prepare_that_a_js_server_fulfils(node_modules: Path) -> None:
    preimage = os.urandom(32)
    clock = SystemClock()
    prepare = Prepare(
        987654321,
        clock.now() + timedelta(seconds=30),
        hashlib.sha256(preimage).digest(),
        "test.js.receiver",
        b"hello from python",
    )
    async with node(node_modules, "btp_server_fulfils.js", "node-secret", preimage.hex()) as proc:
        port = (await read_json_line(proc))["port"]
        client = BtpClientLink(
            f"btp+ws://127.0.0.1:{port}", "js-parent", token="node-secret", username="py"
        )
        try:
            await asyncio.wait_for(client.start(), WAIT)
            reply = await asyncio.wait_for(client.send(prepare), WAIT)
            # the plain JS plugin takes no Transfers: its BTP Error must reach us intact
            with pytest.raises(BtpRequestError, match=r"F00 Error: .*sendMoney"):
                await asyncio.wait_for(client.send_transfer(5), WAIT)
            assert client.connected
        finally:
            await client.close()
        assert reply == Fulfill(preimage, b"fulfilled by javascript")
        seen = (await read_json_line(proc))["prepare"]
        assert seen == {
            "amount": "987654321",
            "destination": "test.js.receiver",
            "executionCondition": prepare.execution_condition.hex(),
            "expiresAt": prepare.expires_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "data": "hello from python",
        }
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), WAIT)


async def test_a_js_server_refuses_a_bad_token(node_modules: Path) -> None:
    async with node(node_modules, "btp_server_fulfils.js", "node-secret", "00" * 32) as proc:
        port = (await read_json_line(proc))["port"]
        client = BtpClientLink(f"ws://127.0.0.1:{port}", "js-parent", token="wrong")
        with pytest.raises(BtpAuthError, match="F00 NotAcceptedError: invalid auth_token"):
            await asyncio.wait_for(client.start(), WAIT)
        await client.close()
