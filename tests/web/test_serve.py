"""`python -m ilpnet.web.serve`: the dashboard as a supervised part of a network."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.ledger.servers import LedgerProcess
from tests.redis_server import free_port
from tests.web.live import eventually, ledger_with

START_DEADLINE = 20.0


async def wait_healthy(
    http: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process
) -> None:
    async def poll() -> None:
        while True:
            assert proc.returncode is None, "the dashboard exited at start"
            try:
                async with http.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), START_DEADLINE)


async def test_serve_picks_up_the_network_file_when_it_appears_and_changes(
    tmp_path: Path, ledgers: dict[str, LedgerProcess], http: aiohttp.ClientSession
) -> None:
    network_file = tmp_path / "state" / "network.json"
    network_file.parent.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "dashboard.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ilpnet.web.serve",
        "--network-file",
        str(network_file),
        "--port",
        str(port),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # healthy before `ilpnet up` has written the network file
        await wait_healthy(http, url, proc)
        async with http.get(f"{url}/api/state") as resp:
            assert (await resp.json())["ledgers"] == {}
        xrp = {"name": "test.xrp", "asset": "XRP", "scale": 6, "url": ledgers["xrp"].url}
        network_file.write_text(json.dumps({"name": "mine", "ledgers": {"xrp": xrp}}))
        await eventually(http, url, ledger_with("xrp", lambda lg: lg["books"] is not None))
        # the file changes (a ledger added): the page gets a fresh snapshot with both
        eth = {"name": "test.eth", "asset": "ETH", "scale": 9, "url": ledgers["eth"].url}
        network_file.write_text(json.dumps({"name": "mine", "ledgers": {"xrp": xrp, "eth": eth}}))
        await eventually(
            http,
            url,
            lambda kind, d: kind == "snapshot" and set(d["state"]["ledgers"]) == {"xrp", "eth"},
        )
        async with http.get(f"{url}/health") as resp:
            health = await resp.json()
        assert health == {**health, "status": "ok", "network": "mine", "ledgers": 2}
        assert (network_file.parent / "dashboard" / "key").exists()
        # a broken file is ignored: the last good picture stays
        network_file.write_text("{broken")
        async with http.get(f"{url}/directory.json") as resp:
            assert len((await resp.json())["ledgers"]) == 2
        # SIGTERM stops it cleanly, with a page still connected
        async with http.get(f"{url}/events") as stream:
            await stream.content.readline()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 10)
        assert code == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


def test_serve_refuses_a_port_in_use_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ilpnet.web.serve",
                "--network-file",
                str(tmp_path / "network.json"),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
