"""Quotes for payments that leave through a BTP peer: the rest of the path priced by the peer.

A connector prices only its own hop. When the route to a destination goes on through a
peer connector whose public API it knows (`public_url` on that peer's link), it asks that
API for the rest, handing over the amount as it would arrive there, in the peer link's
asset:

    GET {public_url}/quote?asset=ETH&scale=9&to=test.usd.bob&source_amount=4990000&hops=1

The peer answers the same JSON as any quote (its own hop and, recursively, the rest), so
a sender sees one quote for the whole path. An unreachable peer API is T01; the peer's own
refusal keeps its ILP code (F02 no route, R01 converts to zero...). `hops` counts the
connectors that priced the path so far; past `MAX_HOPS` the quote is refused (F02), so
routes that loop between connectors cannot make quotes call each other forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ilpnet.connector.rates import Asset
from ilpnet.wire.errors import ErrorCode, IlpError

TIMEOUT_S = 5.0
MAX_HOPS = 8
"""A quote crossing more connectors than this is refused (F02): a routing loop, likely."""


@dataclass(frozen=True, slots=True)
class OnwardQuote:
    """What the rest of the path takes and delivers, as the next connector priced it."""

    source_amount: int
    """In the peer link's asset (what must arrive at the peer)."""
    destination_ledger: str
    destination_asset: Asset
    destination_amount: int
    min_expiry_ms: int


def _error_code(raw: object) -> ErrorCode:
    try:
        return ErrorCode(str(raw))
    except ValueError:
        return ErrorCode.F99_APPLICATION_ERROR


class PeerQuotes:
    """Asks peers' public APIs to price the rest of a path (peer account id -> API URL)."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = {account: url.rstrip("/") for account, url in urls.items()}

    def __contains__(self, account_id: object) -> bool:
        return account_id in self.urls

    async def quote(
        self,
        account_id: str,
        asset: Asset,
        destination: str,
        *,
        source_amount: int | None = None,
        destination_amount: int | None = None,
        hops: int = 1,
    ) -> OnwardQuote:
        """Exactly one of the amounts: `source_amount` in `asset`, or what to deliver;
        `hops`: how many connectors priced the path before the peer."""
        params = {
            "asset": asset.code,
            "scale": str(asset.scale),
            "to": destination,
            "hops": str(hops),
        }
        if source_amount is not None:
            params["source_amount"] = str(source_amount)
        else:
            params["destination_amount"] = str(destination_amount)
        url = f"{self.urls[account_id]}/quote"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http,
                http.get(url, params=params) as resp,
            ):
                body: Any = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise IlpError(
                ErrorCode.T01_PEER_UNREACHABLE,
                f"cannot quote through peer {account_id}: {exc or type(exc).__name__}",
            ) from None
        if not isinstance(body, dict):
            raise IlpError(ErrorCode.T01_PEER_UNREACHABLE, f"peer {account_id}: not a quote")
        if status >= 400:
            raise IlpError(_error_code(body.get("error")), str(body.get("message", "")))
        try:
            src, dst = body["source"], body["destination"]
            return OnwardQuote(
                source_amount=int(src["amount"]),
                destination_ledger=str(dst["ledger"]),
                destination_asset=Asset(str(dst["asset_code"]), int(dst["asset_scale"])),
                destination_amount=int(dst["amount"]),
                min_expiry_ms=int(body["min_expiry_ms"]),
            )
        except (KeyError, TypeError, ValueError):
            raise IlpError(
                ErrorCode.T01_PEER_UNREACHABLE, f"peer {account_id} answered a malformed quote"
            ) from None
