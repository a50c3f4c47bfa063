"""Client of a connector's off-ledger accounts: sign up, read the balance, pay anyone.

The receiver's condition comes as for ledger payments (`ilpnet.app.escrow_sender`): an
invoice URL, or an ILP address plus the receiver's receive key. To refill an off-ledger
account, pay its invoice URL (``<connector>/offledger/<name>/invoice``) from a ledger with
`ilpnet pay`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp

from ilpnet.app.escrow_sender import (
    PaymentError,
    PaymentFailed,
    call_json,
    resolve_destination,
)


@dataclass(frozen=True, slots=True)
class OffLedgerAccount:
    name: str
    address: str
    balance: int
    asset_code: str
    asset_scale: int
    receive_key: bytes
    token: str = ""

    @classmethod
    def from_json(cls, j: dict[str, Any], token: str = "") -> OffLedgerAccount:
        return cls(
            name=j["name"],
            address=j["address"],
            balance=int(j["balance"]),
            asset_code=j["asset_code"],
            asset_scale=int(j["asset_scale"]),
            receive_key=bytes.fromhex(j["receive_key"]),
            token=token or str(j.get("token", "")),
        )


async def _call(
    method: str, url: str, *, token: str = "", body: dict[str, Any] | None = None
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        return await call_json(session, method, url, body=body, token=token)


async def signup(connector_url: str, name: str) -> OffLedgerAccount:
    body = await _call("POST", f"{connector_url.rstrip('/')}/offledger/signup", body={"name": name})
    return OffLedgerAccount.from_json(body)


async def account(connector_url: str, name: str, token: str) -> OffLedgerAccount:
    body = await _call("GET", f"{connector_url.rstrip('/')}/offledger/{name}", token=token)
    return OffLedgerAccount.from_json(body, token)


async def pay_from_offledger(
    connector_url: str,
    name: str,
    token: str,
    to: str,
    amount: int,
    *,
    receive_key: bytes | None = None,
    expiry: timedelta = timedelta(seconds=30),
) -> int:
    """Pay `amount` (the account's units) to `to`; returns the balance after."""
    if amount <= 0:
        raise PaymentError(f"amount must be a positive integer, got {amount}")
    async with aiohttp.ClientSession() as session:
        invoice = await resolve_destination(session, to, receive_key)
    body = await _call(
        "POST",
        f"{connector_url.rstrip('/')}/offledger/{name}/pay",
        token=token,
        body={
            "destination": invoice.destination,
            "amount": str(amount),
            "condition": invoice.condition.hex(),
            "data": invoice.data.hex(),
            "expires_in_ms": int(expiry.total_seconds() * 1000),
        },
    )
    if not body.get("fulfilled"):
        raise PaymentFailed(f"payment rejected: {body.get('code')} {body.get('message')}", 0)
    return int(body["balance"])
