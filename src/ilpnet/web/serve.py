"""Run the dashboard as a part of a network: `python -m ilpnet.web.serve --network-file F`.

The network file (the `network.json` that `ilpnet up` writes) is re-read whenever it
changes; until it exists the page shows an empty network. The dashboard's key and the
accounts its forms made live in `dashboard/` next to the network file.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import click
import structlog
from aiohttp import web

from ilpnet.web.dashboard import Dashboard, create_dashboard_app, dashboard_of
from ilpnet.web.network_view import NetworkFileError, NetworkView, load_network_file
from ilpnet.web.wallet import Wallet, load_or_create_key

log = structlog.get_logger(__name__)

EMPTY = NetworkView("ilpnet", {})


class NetworkFileWatcher:
    """Re-reads the network file when its modification time or size changes."""

    def __init__(self, path: Path, dashboard: Dashboard, interval: float = 0.5) -> None:
        self.path = path
        self.dashboard = dashboard
        self.interval = interval
        self._seen: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    async def check(self) -> None:
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return
        self._seen = stamp
        try:
            network = load_network_file(self.path)
        except NetworkFileError as exc:
            log.warning("dashboard.network_file_invalid", error=str(exc))
            return
        await self.dashboard.set_network(network)

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.interval)


def initial_network(path: Path) -> NetworkView:
    try:
        return load_network_file(path)
    except NetworkFileError:
        return EMPTY


def build_app(network_file: Path) -> web.Application:
    state_dir = network_file.parent / "dashboard"
    wallet = Wallet(load_or_create_key(state_dir / "key"), state_dir / "accounts.json")
    app = create_dashboard_app(initial_network(network_file), wallet=wallet)
    watcher = NetworkFileWatcher(network_file, dashboard_of(app))

    async def watch_file(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(watcher.run(), name="network-file")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(watch_file)
    return app


async def serve(
    network_file: Path, host: str, port: int, ready: Callable[[str], None] = lambda _: None
) -> None:
    """Serve until SIGINT or SIGTERM, then close the page streams and stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        build_app(network_file), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        ready(f"http://{host}:{port}")
        await stop.wait()
    finally:
        await runner.cleanup()


@click.command()
@click.option(
    "--network-file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The network.json `ilpnet up` writes (re-read when it changes).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=7790, show_default=True)
def main(network_file: Path, host: str, port: int) -> None:
    """Serve the network dashboard."""

    def ready(url: str) -> None:
        click.echo(f"dashboard on {url} (network file {network_file})")

    try:
        asyncio.run(serve(network_file, host, port, ready))
    except OSError as exc:
        reason = exc.strerror or exc
        raise click.ClickException(f"cannot serve on {host}:{port}: {reason}") from None


if __name__ == "__main__":
    main()
