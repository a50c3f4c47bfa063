"""Reads a connector's admin HTTP API (`ilpnet.connector.admin`) into the facts the
dashboard shows:

    GET {admin}/status    {"address", ...}
    GET {admin}/accounts  [{"id", "relation", "asset_code", "asset_scale", "balance",
                            "minimum", "maximum", ...}]
    GET {admin}/routes    [{"prefix", "next_hop", "path"}]
    GET {admin}/rates     [{"source": "XRP/6", "destination": "ETH/9", "rate", "decimal"}]
    GET {admin}/metrics   Prometheus text: `ilpnet_packets_total{result=...}` counts

each with `Authorization: Bearer <token>`. Missing fields read as absent, so the
dashboard keeps working while the admin API grows; amounts stay decimal strings.
"""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp

from ilpnet.web.network_view import ConnectorView

Json = dict[str, Any]


class AdminUnavailable(Exception):
    """The admin API did not answer, or not with JSON (the message says which)."""


def _amount(raw: object) -> str | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return raw
    return None


def _count(raw: object) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return 0


def _items(body: object, key: str) -> list[Any]:
    if isinstance(body, dict):
        body = body.get(key, [])
    return body if isinstance(body, list) else []


def read_account(raw: Json) -> Json:
    return {
        "id": str(raw.get("id", "")),
        "relation": str(raw.get("relation", "")),
        "asset": str(raw.get("asset_code", raw.get("asset", ""))),
        "scale": _count(raw.get("asset_scale", raw.get("scale"))),
        "ledger": str(raw.get("ledger", "")),
        "balance": _amount(raw.get("balance")),
        "minimum": _amount(raw.get("minimum")),
        "maximum": _amount(raw.get("maximum")),
    }


def read_rates(body: object) -> list[Json]:
    raw = body.get("rates", body) if isinstance(body, dict) else body
    if isinstance(raw, dict):
        return [{"pair": str(k), "rate": str(v), "exact": str(v)} for k, v in sorted(raw.items())]
    rates = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            source = item.get("source", item.get("from", "?"))
            destination = item.get("destination", item.get("to", "?"))
            exact = str(item.get("rate", ""))
            rates.append(
                {
                    "pair": f"{source} → {destination}",
                    "rate": str(item.get("decimal") or exact),
                    "exact": exact,
                }
            )
    return rates


def read_packet_counts(metrics: str) -> dict[str, int]:
    """Fulfilled and rejected packets from the Prometheus text of `ilpnet_packets_total`."""
    counts = {"fulfilled": 0, "rejected": 0}
    for line in metrics.splitlines():
        if not line.startswith("ilpnet_packets_total{"):
            continue
        labels, _, value = line.rpartition("} ")
        for result in counts:
            if f'result="{result}"' in labels:
                with contextlib.suppress(ValueError):
                    counts[result] += int(float(value))
    return counts


class ConnectorAdminClient:
    def __init__(self, view: ConnectorView, session: aiohttp.ClientSession) -> None:
        self.view = view
        self.session = session

    async def _get(self, path: str, *, text: bool = False) -> object:
        headers = {"Authorization": f"Bearer {self.view.admin_token}"}
        try:
            async with self.session.get(self.view.admin_url + path, headers=headers) as resp:
                if resp.status == 404:
                    return None
                if resp.status >= 400:
                    raise AdminUnavailable(f"GET {path}: HTTP {resp.status}")
                if text:
                    return await resp.text()
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise AdminUnavailable(f"GET {path}: {exc or type(exc).__name__}") from None
        except ValueError:
            raise AdminUnavailable(f"GET {path}: answer is not JSON") from None

    async def read(self) -> Json:
        """The connector's facts as dashboard fields (see `LiveState` connectors)."""
        status = await self._get("/status")
        accounts = await self._get("/accounts")
        routes = await self._get("/routes")
        rates = await self._get("/rates")
        metrics = await self._get("/metrics", text=True)
        facts: Json = {
            "reachable": True,
            "error": "",
            "packets": read_packet_counts(metrics if isinstance(metrics, str) else ""),
            "accounts": [
                read_account(a) for a in _items(accounts, "accounts") if isinstance(a, dict)
            ],
            "routes": [
                {
                    "prefix": str(r.get("prefix", "")),
                    "next_hop": str(r.get("next_hop", "")),
                    "path": [str(x) for x in r.get("path") or [] if isinstance(x, str)],
                }
                for r in _items(routes, "routes")
                if isinstance(r, dict)
            ],
            "rates": read_rates(rates),
        }
        if isinstance(status, dict) and isinstance(status.get("address"), str):
            facts["address"] = status["address"]
        return facts
