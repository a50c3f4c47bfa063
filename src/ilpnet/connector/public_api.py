"""The escrow connector's public HTTP API, for senders (no authentication: test money).

    GET  /ledgers                                   the ledgers served, their assets and fees
    GET  /quote?from=LEDGER&to=ADDRESS&source_amount=N   (or destination_amount=N)
    GET  /quote?asset=CODE&scale=S&to=ADDRESS&source_amount=N   the same for an amount
                                                    arriving from a peer (onward quotes)
    GET  /deposits/{ledger}/{account}               deposit, holds, charges, what is left
    POST /deposits/{ledger}/{account}/withdraw      pay what is left back to that account
    GET  /payments/{ledger}/{escrow_id}             how the payment of that escrow went

Off-ledger accounts (when the connector offers them; `ilpnet.connector.offledger`):

    POST /offledger/signup {"name"}                 a new account, its token (shown once)
    GET  /offledger/{name}           (Bearer token) balance, address, receive key
    GET  /offledger/{name}/invoice                  a fresh invoice to pay that account
    POST /offledger/{name}/pay       (Bearer token) {"destination", "amount", "condition",
                                                     "data" (hex), "expires_in_ms"}

``{ledger}`` and ``from`` take the connector's id for a ledger or the ledger's name. A
withdrawal always pays the depositor's own ledger account, so anyone may trigger it.
Errors are ``{"error": "<ILP code or kind>", "message": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from ilpnet.connector.deposits import WithdrawalError
from ilpnet.connector.escrow_ledgers import EscrowLedgers
from ilpnet.connector.offledger import OffLedgerDesk, OffLedgerUser, SignupRefused
from ilpnet.connector.quotes import quote
from ilpnet.connector.rates import Asset
from ilpnet.crypto.receive_keys import payment_data
from ilpnet.links.ledger_escrow import LedgerEscrowLink
from ilpnet.wire.errors import IlpError
from ilpnet.wire.packet import Fulfill

SERVICE: web.AppKey[EscrowLedgers] = web.AppKey("escrow_ledgers", EscrowLedgers)


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _link(request: web.Request, ledger: str) -> LedgerEscrowLink:
    link = request.app[SERVICE].link_for(ledger)
    if link is None or link.info is None:
        raise web.HTTPNotFound(
            text=f'{{"error": "unknown_ledger", "message": "no ledger {ledger!r} here"}}',
            content_type="application/json",
        )
    return link


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise web.HTTPBadRequest(
            text=f'{{"error": "invalid_amount", "message": "{name} must be an integer"}}',
            content_type="application/json",
        )
    return int(raw)


async def ledgers(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    out: list[dict[str, Any]] = []
    for link in service.links.values():
        info = link.info
        assert info is not None
        out.append(
            {
                "id": link.account_id,
                "name": info.name,
                "url": link.client.url,
                "asset_code": info.asset_code,
                "asset_scale": info.asset_scale,
                "fee": str(info.fee),
                "connector_account": link.me,
            }
        )
    return web.json_response({"address": service.address, "ledgers": out})


def _quote_source(request: web.Request) -> tuple[LedgerEscrowLink | Asset, str]:
    """The source of a quote: ``from`` (a ledger here), or ``asset`` and ``scale`` (an
    amount arriving from a peer, which prices the rest of its path here)."""
    if "from" in request.query or "asset" not in request.query:
        link = _link(request, request.query.get("from", ""))
        return link, link.account_id
    code, scale = request.query["asset"], request.query.get("scale", "")
    if not code or not scale.isdigit() or int(scale) > 255:
        raise web.HTTPBadRequest(
            text='{"error": "F01", "message": "asset needs a code and a scale 0..255"}',
            content_type="application/json",
        )
    return Asset(code, int(scale)), ""


async def get_quote(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    source, link_id = _quote_source(request)
    destination = request.query.get("to", "")
    try:
        charge = await service.desk.rollback_cost(link_id, destination) if link_id else 0
        answer = await quote(
            service.connector,
            service.links,
            source,
            destination,
            source_amount=_int_param(request, "source_amount"),
            destination_amount=_int_param(request, "destination_amount"),
            rollback_charge=charge,
            margin_ms=int(service.margin.total_seconds() * 1000),
            onward=service.onward,
            hops=_int_param(request, "hops") or 0,
        )
    except IlpError as err:
        return _error(400, str(err.code), err.message)
    return web.json_response(answer.to_json())


async def get_deposit(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    link = _link(request, request.match_info["ledger"])
    account = service.desk.account(link.account_id, request.match_info["account"])
    return web.json_response(account.to_json())


async def withdraw(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    link = _link(request, request.match_info["ledger"])
    account = request.match_info["account"]
    try:
        amount = await service.desk.withdraw(link.account_id, account)
    except WithdrawalError as err:
        return _error(409, "nothing_to_withdraw", str(err))
    after = service.desk.account(link.account_id, account)
    return web.json_response({"withdrawn": str(amount), "deposit": after.to_json()})


async def payment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    link = _link(request, request.match_info["ledger"])
    escrow_id = request.match_info["escrow_id"]
    record = service.book.incoming(link.account_id, escrow_id)
    if record is None:
        return _error(404, "unknown_payment", f"no escrow {escrow_id} seen on {link.prefix}")
    body: dict[str, Any] = {
        "escrow": escrow_id,
        "ledger": link.prefix,
        "sender": record.sender,
        "amount": str(record.amount),
        "destination": record.destination,
        "state": record.state.value,
        "code": record.code,
        "message": record.message,
        "outgoing": None,
    }
    out = service.book.outgoing(record.out_key) if record.out_key else None
    if out is not None:
        out_link = service.links.get(out.ledger)
        body["outgoing"] = {
            "ledger": out_link.prefix if out_link is not None else out.ledger,
            "escrow": out.escrow_id,
            "receiver": out.receiver,
            "amount": str(out.amount),
            "fee": str(out.fee),
            "state": out.state.value,
            "message": out.message,
        }
    credit = service.offledger_book.credit_of(record.out_key) if record.out_key else None
    if out is None and credit is not None:
        body["outgoing"] = {
            "ledger": f"{service.address}.off",
            "escrow": "",
            "receiver": credit[0],
            "amount": str(credit[1]),
            "fee": "0",
            "state": "fulfilled",
            "message": "credited to an off-ledger account",
        }
    charges = service.desk.account(link.account_id, record.sender).charges
    body["charge"] = str(sum(c.amount for c in charges if c.escrow_id == escrow_id))
    return web.json_response(body)


def _offledger(request: web.Request) -> OffLedgerDesk:
    desk = request.app[SERVICE].offledger
    if desk is None:
        raise web.HTTPNotFound(
            text='{"error": "no_offledger", "message": "no off-ledger accounts here"}',
            content_type="application/json",
        )
    return desk


def _user(request: web.Request, desk: OffLedgerDesk) -> OffLedgerUser:
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip()
    try:
        return desk.authenticate(request.match_info["name"], token)
    except IlpError as err:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "unauthorized", "message": err.message}),
            content_type="application/json",
        ) from None


def _user_json(desk: OffLedgerDesk, user: OffLedgerUser) -> dict[str, Any]:
    code, scale = desk.asset
    return {
        "name": user.name,
        "address": user.address,
        "balance": str(user.balance),
        "asset_code": code,
        "asset_scale": scale,
        "receive_key": user.receive_key.hex(),
    }


async def offledger_signup(request: web.Request) -> web.Response:
    desk = _offledger(request)
    try:
        body = await request.json()
        name = str(body["name"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "invalid_request", 'body must be {"name": "<account name>"}')
    try:
        user, token = desk.signup(name, request.remote or "?")
    except SignupRefused as err:
        return _error(err.status, err.error, str(err))
    return web.json_response({**_user_json(desk, user), "token": token}, status=201)


async def offledger_account(request: web.Request) -> web.Response:
    desk = _offledger(request)
    return web.json_response(_user_json(desk, _user(request, desk)))


async def offledger_invoice(request: web.Request) -> web.Response:
    desk = _offledger(request)
    try:
        destination, pid, condition = desk.invoice(request.match_info["name"])
    except IlpError as err:
        return _error(404, str(err.code), err.message)
    return web.json_response(
        {
            "destination": destination,
            "payment_id": pid.hex(),
            "condition": condition.hex(),
            "data": payment_data(pid).decode("ascii"),
        }
    )


async def offledger_pay(request: web.Request) -> web.Response:
    desk = _offledger(request)
    user = _user(request, desk)
    try:
        body = await request.json()
        destination = str(body["destination"])
        amount = int(str(body["amount"]))
        condition = bytes.fromhex(str(body["condition"]))
        data = bytes.fromhex(str(body.get("data", "")))
        expires_in = timedelta(milliseconds=int(body.get("expires_in_ms", 30_000)))
    except (ValueError, KeyError, TypeError) as err:
        return _error(400, "invalid_request", f"bad payment request: {err}")
    try:
        answer = await desk.pay(user, destination, amount, condition, data, expires_in)
    except (IlpError, ValueError) as err:
        code = str(err.code) if isinstance(err, IlpError) else "F00"
        message = err.message if isinstance(err, IlpError) else str(err)
        return _error(400, code, message)
    balance = str(desk.balance(user.name))
    if isinstance(answer, Fulfill):
        return web.json_response({"fulfilled": True, "amount": str(amount), "balance": balance})
    return web.json_response(
        {
            "fulfilled": False,
            "code": answer.code,
            "message": answer.message,
            "triggered_by": answer.triggered_by,
            "balance": balance,
        }
    )


def add_public_routes(app: web.Application, service: EscrowLedgers) -> None:
    app[SERVICE] = service
    app.router.add_get("/ledgers", ledgers)
    app.router.add_get("/quote", get_quote)
    app.router.add_get("/deposits/{ledger}/{account}", get_deposit)
    app.router.add_post("/deposits/{ledger}/{account}/withdraw", withdraw)
    app.router.add_get("/payments/{ledger}/{escrow_id}", payment)
    app.router.add_post("/offledger/signup", offledger_signup)
    app.router.add_get("/offledger/{name}", offledger_account)
    app.router.add_get("/offledger/{name}/invoice", offledger_invoice)
    app.router.add_post("/offledger/{name}/pay", offledger_pay)
