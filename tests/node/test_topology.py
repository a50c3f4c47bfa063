"""Topology files: the shipped default is valid; every mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ilpnet.node.network import SecretBook, connector_config
from ilpnet.node.topology import TopologyError, load_topology, parse_topology

LEDGER = """
[ledgers.a]
name = "test.a"
asset = "XRP"
scale = 6
"""


def test_default_topology_has_three_ledgers_with_different_assets() -> None:
    topo, source = load_topology(None)
    assert source == "default topology"
    assets = {spec.asset for spec in topo.ledgers.values()}
    scales = {spec.scale for spec in topo.ledgers.values()}
    fees = {spec.fee for spec in topo.ledgers.values()}
    speeds = {spec.close_interval_ms for spec in topo.ledgers.values()}
    assert len(topo.ledgers) == 3
    assert len(assets) == len(scales) == len(fees) == len(speeds) == 3


def test_default_topology_needs_two_hops_and_has_a_receiver_per_ledger() -> None:
    topo, _ = load_topology(None)
    assert [(p.dialer, p.listener, p.asset) for p in topo.peer_links()] == [
        ("alpha", "beta", "ETH")
    ]
    assert not set(topo.connectors["alpha"].ledgers) >= {"xrp", "btc"}
    assert not set(topo.connectors["beta"].ledgers) >= {"xrp", "btc"}
    receivers = topo.test_receivers()
    assert sorted(r.ledger for r in receivers.values()) == ["btc", "eth", "xrp"]
    assert {k: topo.receiver_connector(r) for k, r in receivers.items()} == {
        "xrp": "alpha",
        "eth": "alpha",
        "btc": "beta",
    }
    assert all(c.store == "sqlite" for c in topo.connectors.values())


LINE = (
    LEDGER
    + """
[connectors.a]
ledgers = ["a"]
[[connectors.a.peers]]
connector = "b"
asset = "XRP"
scale = 6
[connectors.b]
peers = [{ connector = "c", asset = "XRP", scale = 6 }]
[connectors.c]
ledgers = ["a"]
store = "redis://127.0.0.1:6390/0"
"""
)


def test_a_line_of_three_gets_routes_for_two_hops_and_matching_tokens(tmp_path: Path) -> None:
    topo = parse_topology(LINE, "line.toml")
    ports = {f"connector:{n}": 9000 + i for i, n in enumerate("abc")}
    ports |= {f"connector:{n}:admin": 9100 + i for i, n in enumerate("abc")}
    ports["ledger:a"] = 9200
    book = SecretBook(tmp_path / "secrets.json")
    configs = {n: connector_config(topo, n, tmp_path, ports, book)[0] for n in "abc"}
    routes = {n: {r["prefix"]: r["account"] for r in c["routes"]} for n, c in configs.items()}
    assert routes == {
        "a": {"test.b": "b", "test.c": "b"},
        "b": {"test.a": "a", "test.c": "c"},
        "c": {"test.b": "b", "test.a": "b"},
    }
    a_dials_b = configs["a"]["accounts"]["b"]["link"]
    b_hears_a = configs["b"]["accounts"]["a"]["link"]
    assert a_dials_b["kind"] == "btp-client"
    assert a_dials_b["url"] == "ws://127.0.0.1:9001"
    assert b_hears_a == {
        "kind": "btp-server",
        "token": a_dials_b["token"],
        "username": "a",
        "public_url": "http://127.0.0.1:9000",  # a's public API, for quotes through a
    }
    assert a_dials_b["public_url"] == "http://127.0.0.1:9001"
    # a and c hold accounts on ledger a (each its own, funded from the faucet); b holds none
    on_ledger = {n: c["accounts"].get("ledger-a", {}).get("link") for n, c in configs.items()}
    assert on_ledger["b"] is None
    for n in "ac":
        link = on_ledger[n]
        assert link is not None
        assert (link["kind"], link["url"], link["account"]) == (
            "ledger-escrow",
            "http://127.0.0.1:9200",
            n,
        )
        assert link["fund"] == 1000 * 10**6
    assert on_ledger["a"]["secret"] != on_ledger["c"]["secret"]
    assert configs["b"]["accounts"]["c"]["asset_code"] == "XRP"
    assert configs["c"]["store"] == "redis://127.0.0.1:6390/0?prefix=ilpnet-c"
    assert configs["a"]["store"].startswith("sqlite:///")
    book.save()
    again = SecretBook(tmp_path / "secrets.json")
    assert connector_config(topo, "a", tmp_path, ports, again)[0] == configs["a"]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (LEDGER + '\n[connectors.c]\nledgers = ["a", "zz"]\n', 8, "unknown ledger 'zz'"),
        (LEDGER + "\n[connectors.c]\nstore = 'sqlite'\n", 7, "at least one ledger or peer"),
        (LEDGER.replace("scale = 6", "scale = 99"), 5, "ledgers.a.scale"),
        (
            LEDGER + "port = 9000\n[ledgers.b]\nname='b'\nasset='X'\nscale=1\nport=9000\n",
            11,
            "port",
        ),
        (LEDGER + "colour = 'red'\n", 6, "colour"),
        ("[ledgers.a\nname='x'\n", 1, "not valid TOML"),
        (
            LEDGER + "\n[connectors.c]\nledgers=['a']\n[[connectors.c.peers]]\n"
            "connector = 'nobody'\nasset='XRP'\nscale=6\n",
            10,
            "unknown connector 'nobody'",
        ),
        (
            LEDGER + "\n[connectors.c]\nledgers=['a']\n[connectors.d]\npeers=[]\n"
            "ledgers=['a']\n[receivers.r]\nledger='a'\nconnector='e'\n",
            14,
            "receivers.r.connector: unknown connector 'e'",
        ),
        (
            LEDGER + "[ledgers.b]\nname='b'\nasset='B'\nscale=1\n[connectors.c]\nledgers=['a']\n"
            "[[connectors.c.peers]]\nconnector='d'\n[connectors.d]\nledgers=['b']\n",
            13,
            "serve no ledger in common",
        ),
        (LEDGER + "\n[connectors.c]\nledgers=['a']\nstore='mysql://x'\n", 9, "store"),
    ],
)
def test_mistakes_are_refused_with_their_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TopologyError) as info:
        parse_topology(text, "net.toml")
    assert info.value.line == line, str(info.value)
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"net.toml:{line}: ")


def test_duplicate_ledger_names_refused() -> None:
    text = LEDGER + '\n[ledgers.b]\nname = "test.a"\nasset = "ETH"\nscale = 9\n'
    with pytest.raises(TopologyError, match=r"ledger name used twice: test\.a"):
        parse_topology(text, "net.toml")


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "nope.toml")
