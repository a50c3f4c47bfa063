"""The directory: the network's public list of connectors to peer with (HTML and JSON)."""

from __future__ import annotations

from html import escape
from typing import Any

from ilpnet.web.network_view import NetworkView


def directory_json(network: NetworkView) -> dict[str, Any]:
    return {
        "network": network.name,
        "connectors": [
            {
                "name": c.name,
                "address": c.address,
                "btp": c.btp_url,
                "http": c.http_url,
                "ledgers": [
                    {"key": k, "name": network.ledgers[k].name, "asset": network.ledgers[k].asset}
                    for k in c.ledgers
                    if k in network.ledgers
                ],
                "peers": list(c.peers),
            }
            for c in sorted(network.connectors.values(), key=lambda c: c.name)
        ],
        "ledgers": [
            {"key": v.key, "name": v.name, "asset": v.asset, "scale": v.scale, "url": v.url}
            for v in network.ledgers.values()
        ],
        "receivers": [r.to_json() for r in network.receivers],
    }


def _cell(text: str, *, code: bool = True) -> str:
    if not text:
        return '<td class="muted">—</td>'
    inner = f"<code>{escape(text)}</code>" if code else escape(text)
    return f"<td>{inner}</td>"


def directory_html(network: NetworkView) -> str:
    """A plain page styled by the dashboard's stylesheet."""
    data = directory_json(network)
    rows = []
    for c in data["connectors"]:
        ledgers = ", ".join(f"{x['name']} ({x['asset']})" for x in c["ledgers"])
        rows.append(
            "<tr>"
            + _cell(c["name"], code=False)
            + _cell(c["address"])
            + _cell(c["btp"])
            + _cell(c["http"])
            + _cell(ledgers, code=False)
            + _cell(", ".join(c["peers"]), code=False)
            + "</tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="6" class="muted">No connectors in this network yet.</td>')
    ledger_rows = "".join(
        "<tr>"
        + _cell(x["name"], code=False)
        + _cell(x["asset"], code=False)
        + _cell(str(x["scale"]), code=False)
        + _cell(x["url"])
        + "</tr>"
        for x in data["ledgers"]
    )
    name = escape(network.name)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · directory</title>
<link rel="stylesheet" href="/static/dashboard.css">
<link rel="icon" href="data:,">
</head>
<body>
<header class="topbar">
  <div class="brand"><span class="logo">◈</span> {name}</div>
  <nav><a href="/">Dashboard</a><a href="/directory" aria-current="page">Directory</a>
  <a href="/directory.json">JSON</a></nav>
</header>
<main class="page">
<section class="card wide">
<h2>Connectors</h2>
<p class="muted">Peer with any of these over BTP (WebSocket) or ILP-over-HTTP.</p>
<div class="table-wrap"><table id="directory">
<thead><tr><th>Name</th><th>ILP address</th><th>BTP</th><th>HTTP</th><th>Ledgers</th>
<th>Peers</th></tr></thead>
<tbody>{"".join(rows)}</tbody>
</table></div>
</section>
<section class="card wide">
<h2>Ledgers</h2>
<div class="table-wrap"><table>
<thead><tr><th>Name</th><th>Asset</th><th>Scale</th><th>URL</th></tr></thead>
<tbody>{ledger_rows}</tbody>
</table></div>
</section>
</main>
</body>
</html>
"""
