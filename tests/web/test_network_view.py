"""Reading the network description the dashboard shows (the shape of network.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ilpnet.node.network import plan_network
from ilpnet.node.topology import load_topology
from ilpnet.web.network_view import NetworkFileError, NetworkView, load_network_file

XRP = {"name": "test.xrp", "asset": "XRP", "scale": 6, "url": "http://127.0.0.1:7700/"}


def test_reads_what_ilpnet_up_writes(tmp_path: Path) -> None:
    topology, _ = load_topology(None)
    described = plan_network(topology, tmp_path / "state").describe()
    view = NetworkView.from_json(json.loads(json.dumps(described)))
    assert view.name == topology.network.name
    assert set(view.ledgers) == set(topology.ledgers)
    for key, spec in topology.ledgers.items():
        ledger = view.ledgers[key]
        assert (ledger.name, ledger.asset, ledger.scale) == (spec.name, spec.asset, spec.scale)
        assert ledger.url.startswith("http://127.0.0.1:")
    by_pointer = {r["pointer"]: r for r in described["receivers"]}
    by_invoice = {r["invoice_url"]: r for r in described["ledger_receivers"]}
    streamed = [r for r in view.receivers if r.pointer in by_pointer]
    assert len(streamed) == len(by_pointer) > 0
    on_ledger = [r for r in view.receivers if r.pointer in by_invoice]
    assert len(on_ledger) == len(by_invoice) == len(topology.ledgers)
    for receiver in on_ledger:  # followed by their ledger accounts, not by /health
        written = by_invoice[receiver.pointer]
        assert (receiver.ledger, receiver.account, receiver.secret) == (
            written["ledger"],
            written["account"],
            written["secret"],
        )
        assert receiver.secret
        assert not receiver.health_url
    for receiver in streamed:
        written = by_pointer[receiver.pointer]
        assert receiver.health_url == written["health"]
        assert receiver.health_url.startswith("http://127.0.0.1:")
        assert receiver.health_url.endswith("/health")
        assert receiver.connector == written["connector"]
        assert receiver.connector in view.connectors


def test_reads_connectors_and_receivers_and_keeps_tokens_private() -> None:
    view = NetworkView.from_json(
        {
            "name": "n",
            "ledgers": {"xrp": XRP},
            "connectors": {
                "alice": {
                    "address": "test.alice",
                    "admin_url": "http://127.0.0.1:7801/",
                    "admin_token": "hunter2-token",
                    "btp_url": "ws://127.0.0.1:7802",
                    "http_url": "http://127.0.0.1:7803",
                    "ledgers": ["xrp"],
                    "peers": ["bob"],
                    "something_new": 1,
                }
            },
            "receivers": [{"ledger": "xrp", "pointer": "$127.0.0.1:7804/xrp"}],
        }
    )
    alice = view.connectors["alice"]
    assert alice.admin_url == "http://127.0.0.1:7801"
    assert alice.ledgers == ("xrp",)
    assert alice.peers == ("bob",)
    assert view.ledgers["xrp"].url == "http://127.0.0.1:7700"
    assert view.receivers[0].pointer == "$127.0.0.1:7804/xrp"
    assert (view.receivers[0].health_url, view.receivers[0].connector) == ("", "")  # optional
    public = json.dumps(view.to_json())
    assert "hunter2" not in public
    assert "hunter2" not in repr(view)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({}, "ledgers"),
        ({"ledgers": []}, "ledgers"),
        ({"ledgers": {"xrp": {**XRP, "scale": 19}}}, "ledgers.xrp.scale"),
        ({"ledgers": {"xrp": {**XRP, "scale": "6"}}}, "ledgers.xrp.scale"),
        ({"ledgers": {"xrp": {**XRP, "url": ""}}}, "ledgers.xrp.url"),
        ({"ledgers": {"xrp": XRP}, "connectors": {"a": {"ledgers": ["eth"]}}}, "unknown ledger"),
        ({"ledgers": {"xrp": XRP}, "connectors": {"a": {"peers": "bob"}}}, "connectors.a.peers"),
        ({"ledgers": {"xrp": XRP}, "receivers": {}}, "receivers"),
        ({"ledgers": {"xrp": XRP}, "receivers": [{"ledger": "xrp"}]}, "receivers[0].pointer"),
    ],
)
def test_a_bad_description_names_the_field(data: dict[str, Any], names: str) -> None:
    with pytest.raises(NetworkFileError, match=names.replace("[", r"\[").replace("]", r"\]")):
        NetworkView.from_json(data)


def test_a_bad_file_says_which_file_and_why(tmp_path: Path) -> None:
    missing = tmp_path / "network.json"
    with pytest.raises(NetworkFileError, match="cannot read"):
        load_network_file(missing)
    missing.write_text("{not json")
    with pytest.raises(NetworkFileError, match="not JSON"):
        load_network_file(missing)
    missing.write_text(json.dumps({"ledgers": {"xrp": XRP}}))
    assert load_network_file(missing).ledgers["xrp"].asset == "XRP"
