"""`ilpnet connector run|check`: a bad config is one line naming the key and exit 1; a good
one runs until SIGTERM and shuts down cleanly (exit 0)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner

from ilpnet.cli.main import cli
from tests.node.connectors import ConnectorProcess

EXAMPLE = Path(__file__).parents[2] / "examples" / "connector-a.toml"

GOOD = """
address = "test.x"
store = "memory://"

[accounts.kid]
relation = "child"
asset_code = "USD"
asset_scale = 2
link = { kind = "btp-server", token = "kid-secret" }
"""


@pytest.fixture(autouse=True)
def keep_logging_config() -> Iterator[None]:
    """`connector run` configures structlog for its process; undo that for other tests."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('store = "memory://"', 'store = "mongo://x"'), "store: unknown store URL scheme"),
        (('kind = "btp-server"', 'kind = "pigeon"'), "accounts.kid.link: Input tag 'pigeon'"),
        ((', token = "kid-secret"', ""), "accounts.kid.link.token: Field required"),
        (
            ('kind = "btp-server", token = "kid-secret"', 'kind = "btp-client", url = "ws://x"'),
            "accounts.kid.link.token: needed",
        ),
        (('store = "memory://"', "[btp]\nport = 70000"), "btp.port: Input should be less"),
        (("asset_scale = 2", "asset_scale = 2\nmaximum = -1\nminimum = 0"), "accounts.kid.maximum"),
        (("store = ", 'colour = "red"\nstore = '), "colour: Extra inputs are not permitted"),
        (("[accounts.kid]", "[accounts.kid"), "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(*change))
    for command in ("run", "check"):
        result = CliRunner().invoke(cli, ["connector", command, "--config", str(path)])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith(f"Error: {path}: "), lines[0]
        assert message in lines[0], lines[0]
        assert "Traceback" not in result.output


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["connector", "run", "--config", str(tmp_path / "no.toml")])
    assert result.exit_code == 1
    assert (
        result.output.strip()
        == f"Error: {tmp_path / 'no.toml'}: cannot read: No such file or directory"
    )


def test_check_summarises_the_documented_example() -> None:
    result = CliRunner().invoke(cli, ["connector", "check", "--config", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "connector test.a" in result.output
    assert "account sender: child USD/2 (btp-server)" in result.output
    assert "account b: peer EUR/6 (btp-client)" in result.output
    assert "route test -> b" in result.output


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "c.toml"
        path.write_text(f"{GOOD}\n[btp]\nport = {port}\n")
        result = CliRunner().invoke(cli, ["connector", "run", "--config", str(path)])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot listen:"), result.output


async def test_sigterm_stops_the_process_cleanly(tmp_path: Path) -> None:
    node = ConnectorProcess(
        "x",
        {
            "address": "test.x",
            "store": f"sqlite:///{tmp_path}/x.db",
            "accounts": {
                "kid": {
                    "relation": "child",
                    "asset_code": "USD",
                    "asset_scale": 2,
                    "link": {"kind": "btp-server", "token": "kid-secret"},
                }
            },
        },
        tmp_path,
    )
    await node.start()
    health = await node.wait_healthy()
    assert health == {"status": "ok", "address": "test.x", "links": {"kid": False}}
    assert (await node.admin("/status"))["address"] == "test.x"
    assert node.process is not None
    node.process.terminate()
    assert await asyncio.wait_for(node.process.wait(), 10) == 0
    log = node.log_path.read_text()
    assert "connector test.x listening btp=ws://127.0.0.1:" in log
    assert '"event": "connector.stopped"' in log


def test_an_unreachable_store_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        path = tmp_path / "c.toml"
        path.write_text(GOOD.replace("memory://", f"redis://127.0.0.1:{port}/0"))
        result = CliRunner().invoke(cli, ["connector", "run", "--config", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: cannot open store redis://127.0.0.1:{port}/0:"), lines[0]
