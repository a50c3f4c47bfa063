"""Topology files: the shipped default is valid; every mistake names its line."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert len(topo.ledgers) == 3
    assert len(assets) == 3
    assert len(scales) == 3


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
