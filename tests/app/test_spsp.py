"""SPSP: payment pointers (every case of spec data/payment-pointers.json), a real aiohttp
SPSP server on 127.0.0.1 handing out STREAM credentials, and the client's errors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ilpnet.app.spsp import (
    InvalidPointerError,
    PaymentPointer,
    ReceiverNotFoundError,
    SpspContentTypeError,
    SpspHttpError,
    SpspLookupError,
    SpspReceiver,
    SpspResponseError,
    decode_shared_secret,
    endpoint_url,
    resolve,
    spsp_app,
)
from ilpnet.app.stream.client import pay
from ilpnet.app.stream.connection import AssetDetails
from ilpnet.app.stream.server import StreamServer
from ilpnet.clock import SystemClock
from ilpnet.links.memory import memory_link_pair
from tests.redis_server import free_port
from tests.spec_vectors import MISSING, spec_dir

Serve = Callable[[web.Application], Awaitable[int]]


def pointer_cases() -> list[Any]:
    path = spec_dir() / "data" / "payment-pointers.json"
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=MISSING.format(path=path)))]
    cases = json.loads(path.read_text())["cases"]
    return [pytest.param(c, id=c["payment_pointer"]) for c in cases]


@pytest.mark.parametrize("case", pointer_cases())
def test_payment_pointer_cases(case: dict[str, Any]) -> None:
    if case["valid"]:
        assert PaymentPointer.parse(case["payment_pointer"]).url() == case["endpoint_url"]
        assert endpoint_url(case["payment_pointer"]) == case["endpoint_url"]
    else:
        with pytest.raises(InvalidPointerError):
            PaymentPointer.parse(case["payment_pointer"])


def test_plain_http_only_for_local_hosts_behind_the_switch() -> None:
    local = "$127.0.0.1:8080/alice"
    assert endpoint_url(local, insecure_http=True) == "http://127.0.0.1:8080/alice"
    assert endpoint_url("$localhost", insecure_http=True) == "http://localhost/.well-known/pay"
    with pytest.raises(InvalidPointerError, match="may not contain a port"):
        endpoint_url(local)
    with pytest.raises(InvalidPointerError, match="only for loopback or test hosts"):
        endpoint_url("$example.com/bob", insecure_http=True)
    with pytest.raises(InvalidPointerError, match="may not contain a port"):
        PaymentPointer.parse("$example.com:80/bob", insecure_http=True)
    with pytest.raises(InvalidPointerError, match="allowed only for loopback"):
        endpoint_url("http://example.com/bob", insecure_http=True)
    assert endpoint_url("https://example.com/bob") == "https://example.com/bob"
    with pytest.raises(InvalidPointerError, match="neither a payment pointer"):
        endpoint_url("ftp://example.com/bob")


def test_shared_secret_accepts_both_base64_alphabets_and_needs_32_bytes() -> None:
    secret = bytes(range(200, 232))
    assert decode_shared_secret(base64.b64encode(secret).decode()) == secret
    assert decode_shared_secret(base64.urlsafe_b64encode(secret).decode().rstrip("=")) == secret
    with pytest.raises(SpspResponseError, match="16 bytes"):
        decode_shared_secret(base64.b64encode(bytes(16)).decode())
    with pytest.raises(SpspResponseError, match="not base64"):
        decode_shared_secret("@@@")


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return port

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_spsp_server_and_client_set_up_a_payment(serve: Serve) -> None:
    server = StreamServer(address="test.receiver", asset=AssetDetails("EUR", 2))
    app = spsp_app(
        {
            "/alice": SpspReceiver(server, "alice"),
            "/.well-known/pay": SpspReceiver(server, "host"),
        }
    )
    port = await serve(app)

    details = await resolve(f"$127.0.0.1:{port}/alice", insecure_http=True)
    again = await resolve(f"$127.0.0.1:{port}/alice", insecure_http=True)
    bare = await resolve(f"$localhost:{port}", insecure_http=True)

    assert details.destination_account.startswith("test.receiver.")
    assert len(details.shared_secret) == 32
    assert details.shared_secret != again.shared_secret  # fresh per query
    assert details.destination_account != again.destination_account
    assert bare.destination_account.startswith("test.receiver.")

    sender_link, receiver_link = memory_link_pair("receiver", "sender", SystemClock())
    receiver_link.set_handler(server.handle_prepare)
    receipt = await pay(
        sender_link, details.destination_account, details.shared_secret, source_amount=250
    )
    assert receipt.delivered == 250
    (alice,) = server.connection_ids("alice")
    assert server.connection(alice).total_received == 250


async def test_spsp_response_headers_and_unknown_receiver(serve: Serve) -> None:
    server = StreamServer(address="test.receiver", asset=AssetDetails("EUR", 2))
    port = await serve(spsp_app({"/alice": SpspReceiver(server)}))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        accept = {"Accept": "application/spsp4+json"}
        async with session.get(f"{base}/alice", headers=accept) as ok:
            assert ok.status == 200
            assert ok.content_type == "application/spsp4+json"
            assert ok.headers["Access-Control-Allow-Origin"] == "*"
            assert ok.headers["Cache-Control"] == "max-age=60"
            body = await ok.json(content_type=None)
            assert set(body) == {"destination_account", "shared_secret"}
            assert len(body["shared_secret"]) == 44
        async with session.get(f"{base}/bob", headers=accept) as missing:
            assert missing.status == 404
            assert await missing.json(content_type=None) == {
                "id": "InvalidReceiverError",
                "message": "Invalid receiver ID",
            }
        async with session.get(f"{base}/alice", headers={"Accept": "text/html"}) as html:
            assert html.status == 406
        async with session.options(f"{base}/alice") as preflight:
            assert preflight.status == 204
            assert preflight.headers["Access-Control-Allow-Headers"] == "web-monetization-id"

    with pytest.raises(ReceiverNotFoundError, match=r"no such receiver .*/bob \(404: Invalid"):
        await resolve(f"$127.0.0.1:{port}/bob", insecure_http=True)


async def test_client_errors_name_each_failure(serve: Serve) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>hi</html>", content_type="text/html")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(body=b"{not json", content_type="application/spsp4+json")

    async def missing_field(request: web.Request) -> web.Response:
        return web.json_response(
            {"destination_account": "test.x"}, content_type="application/spsp4+json"
        )

    async def bad_address(request: web.Request) -> web.Response:
        doc = {"destination_account": "nope", "shared_secret": "A" * 43 + "="}
        return web.json_response(doc, content_type="application/spsp4+json")

    async def failing(request: web.Request) -> web.Response:
        return web.json_response({"message": "boom"}, status=500)

    app = web.Application()
    app.router.add_get("/html", html)
    app.router.add_get("/broken", broken)
    app.router.add_get("/missing", missing_field)
    app.router.add_get("/address", bad_address)
    app.router.add_get("/failing", failing)
    port = await serve(app)
    at = f"$127.0.0.1:{port}"

    with pytest.raises(SpspContentTypeError, match="content type 'text/html'"):
        await resolve(f"{at}/html", insecure_http=True)
    with pytest.raises(SpspResponseError, match="not valid JSON"):
        await resolve(f"{at}/broken", insecure_http=True)
    with pytest.raises(SpspResponseError, match="lacks destination_account or shared_secret"):
        await resolve(f"{at}/missing", insecure_http=True)
    with pytest.raises(SpspResponseError, match="'nope' is not an ILP address"):
        await resolve(f"{at}/address", insecure_http=True)
    with pytest.raises(SpspHttpError, match="answered HTTP 500: boom") as caught:
        await resolve(f"{at}/failing", insecure_http=True)
    assert caught.value.status == 500

    closed_port = free_port()
    with pytest.raises(SpspLookupError, match=r"cannot connect to http://127\.0\.0\.1"):
        await resolve(f"$127.0.0.1:{closed_port}/alice", insecure_http=True)
    with pytest.raises(SpspLookupError, match=r"cannot resolve the host .*\(DNS\)"):
        await resolve("$nowhere.invalid/alice")
    with pytest.raises(InvalidPointerError, match="neither a payment pointer"):
        await resolve("nowhere.invalid/alice")
