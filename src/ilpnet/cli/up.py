"""`ilpnet up` and `ilpnet status`: run a whole network, and read a running one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ilpnet.clock import SystemClock
from ilpnet.node.network import NetworkPlan, plan_network, read_state, run_network
from ilpnet.node.status import NetworkStatus, read_status
from ilpnet.node.supervisor import Part, PartFailed
from ilpnet.node.topology import TopologyError, load_topology

console = Console()
err_console = Console(stderr=True)

DEFAULT_STATE = Path(".ilpnet")


def _ready_table(plan: NetworkPlan) -> Table:
    table = Table(title=f"{plan.topology.network.name} is up", title_justify="left")
    table.add_column("part")
    table.add_column("url")
    table.add_column("try")
    for part in plan.parts:
        hint = ""
        if part.kind == "ledger":
            key = part.name.split(":", 1)[1]
            hint = (
                f"ilpnet ledger faucet --ledger {part.url} "
                f"--account alice-{key} --secret s3cret-{key} --amount 1000000"
            )
        elif part.kind == "dashboard":
            hint = "open in a browser: live graph, faucet and send forms"
        table.add_row(part.name, part.url, hint)
    return table


@click.command()
@click.argument("topology", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="Where ledgers and connectors keep their state.",
)
@click.option("--fresh", is_flag=True, help="Delete the saved state and start clean.")
def up(topology: Path | None, state_dir: Path, fresh: bool) -> None:
    """Start the network TOPOLOGY names (default: three built-in test ledgers)."""
    try:
        topo, _source = load_topology(topology)
        if read_state(state_dir) is not None:
            status = asyncio.run(read_status(state_dir))
            if status is not None and status.any_healthy:
                raise click.ClickException(
                    f"a network is already running from {state_dir} (see `ilpnet status`)"
                )
        plan = plan_network(topo, state_dir, fresh=fresh)
    except TopologyError as exc:
        raise click.ClickException(str(exc)) from None

    def report(part: Part, message: str) -> None:
        err_console.print(f"[yellow]{part.name}[/]: {message}")

    def ready(p: NetworkPlan) -> None:
        console.print(_ready_table(p))
        console.print(f"state in {p.state_dir}; logs in {p.state_dir / 'logs'}; Ctrl-C stops")

    console.print(f"starting {len(plan.parts)} parts from {_source}…")
    try:
        asyncio.run(run_network(plan, SystemClock(), report, ready))
    except PartFailed as exc:
        raise click.ClickException(str(exc)) from None
    console.print("stopped")


def _status_table(status: NetworkStatus) -> Table:
    table = Table(title=f"{status.name}", title_justify="left")
    table.add_column("part")
    table.add_column("url")
    table.add_column("health")
    table.add_column("detail")
    for part in status.parts:
        table.add_row(
            part.name, part.url, "[green]ok[/]" if part.healthy else "[red]down[/]", part.detail
        )
    return table


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
)
def status(state_dir: Path) -> None:
    """Show the parts of the running network, their health and books."""
    result = asyncio.run(read_status(state_dir))
    if result is None:
        raise click.ClickException(
            f"no network is running from {state_dir} (start one with `ilpnet up`)"
        )
    console.print(_status_table(result))
