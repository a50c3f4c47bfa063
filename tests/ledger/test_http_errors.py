"""Malformed requests: each gets a 4xx with a JSON error naming the problem."""

from __future__ import annotations

import aiohttp
import pytest

from ilpnet.ledger import errors
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.server import LedgerServer
from tests.ledger.parties import open_account, secret_of

AUTH = {"Authorization": f"Bearer alice:{secret_of('alice')}"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "names"),
    [
        ("POST", "/transfers", b"{not json", 400, "invalid_request", "JSON"),
        ("POST", "/transfers", b"[1, 2]", 400, "invalid_request", "object"),
        ("POST", "/transfers", b'{"to": "bob", "amount": "1"}', 400, "invalid_request", "'id'"),
        (
            "POST",
            "/transfers",
            b'{"id": "", "to": "bob", "amount": 1}',
            400,
            "invalid_request",
            "'id'",
        ),
        ("POST", "/transfers", b'{"id": "a", "amount": 1}', 400, "invalid_request", "'to'"),
        ("POST", "/transfers", b'{"id": "a", "to": "bob"}', 400, "invalid_request", "'amount'"),
        ("POST", "/transfers", b"\xff\xfe", 400, "invalid_request", "JSON"),
        ("GET", "/nowhere", b"", 404, "not_found", "/nowhere"),
        ("DELETE", "/transfers", b"", 405, "method_not_allowed", "DELETE"),
        ("POST", "/transfers", b"x" * 70_000, 413, "payload_too_large", "bytes"),
        ("GET", "/escrows/zz", b"", 400, "invalid_request", "escrow id"),
        ("GET", "/channels/" + "0" * 32, b"", 404, "unknown_channel", "0000"),
    ],
)
async def test_malformed_requests(
    client: LedgerClient,
    server: LedgerServer,
    method: str,
    path: str,
    body: bytes,
    status: int,
    code: str,
    names: str,
) -> None:
    await open_account(client, "alice", 10)
    await open_account(client, "bob")
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, server.url + path, data=body, headers=AUTH) as resp,
    ):
        answer = await resp.json()
    assert resp.status == status
    assert answer["error"] == code
    assert names in answer["message"]
    assert (await client.books()).balanced


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer alice", "Bearer :x", "Bearer alice:"])
async def test_bad_authorization_headers(
    client: LedgerClient, server: LedgerServer, header: str
) -> None:
    await open_account(client, "alice", 10)
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{server.url}/accounts/alice", headers={"Authorization": header}) as resp,
    ):
        answer = await resp.json()
    assert (resp.status, answer["error"]) == (401, "unauthorized")


def test_error_bodies_map_to_typed_errors() -> None:
    err = errors.error_from_json(422, {"error": "wrong_preimage", "message": "nope"})
    assert isinstance(err, errors.WrongPreimage)
    assert (err.message, err.code.value) == ("nope", "F05")
    assert isinstance(errors.error_from_json(401, {"message": "Unauthorized"}), errors.Unauthorized)
    assert isinstance(errors.error_from_json(502, None), errors.InternalError)
    assert isinstance(errors.error_from_json(418, "teapot"), errors.InvalidRequest)
    assert len({cls.error for cls in errors.ERRORS.values()}) == len(errors.ERRORS)
