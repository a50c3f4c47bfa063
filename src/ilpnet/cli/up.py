"""`ilpnet up` and `ilpnet status`: run a whole network, and read a running one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ilpnet.app.stream.connection import AssetDetails
from ilpnet.clock import SystemClock
from ilpnet.node.network import NetworkPlan, plan_network, read_state, run_network
from ilpnet.node.status import ConnectorStatus, NetworkStatus, read_status
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
    receivers = {f"receiver:{r.name}": r for r in plan.receivers}
    for part in plan.parts:
        hint = ""
        if part.kind == "ledger":
            key = part.name.split(":", 1)[1]
            hint = (
                f"ilpnet ledger faucet --ledger {part.url} "
                f"--account alice-{key} --secret s3cret-{key} --amount 1000000"
            )
        elif part.kind == "connector":
            conn = plan.connectors[part.name.split(":", 1)[1]]
            peers = ", ".join(conn.peers) or "no peers"
            hint = f"{conn.address}: ledgers {', '.join(conn.ledgers)}; peers {peers}"
            hint += f"; admin {conn.admin_url}"
        elif part.kind == "receiver":
            receiver = receivers[part.name]
            asset = plan.topology.ledgers[receiver.ledger].asset
            hint = f"pay it: test receiver in {asset} at {receiver.address}"
        elif part.kind == "ledger-receiver":
            key = part.name.split(":", 1)[1]
            hint = f"pay it on {key}: invoices here (`ilpnet pay --to {part.url}`)"
        elif part.kind == "dashboard":
            hint = "open in a browser: live graph, faucet and send forms"
        table.add_row(part.name, part.url, hint)
    return table


def suggested_send(plan: NetworkPlan) -> str | None:
    """One `ilpnet send` a user can paste: across the network, from a provisioned sender."""
    found = plan.suggested_payment()
    if found is None:
        return None
    sender, conn, receiver = found
    amount = 10**sender.scale // 100  # a hundredth of the sender's asset
    return (
        f"ilpnet send --insecure-http '{receiver.pointer}' {amount} "
        f"--connector {conn.btp_url} --token {sender.token}"
    )


def suggested_pay(plan: NetworkPlan) -> list[str]:
    """Commands a user can paste to pay on-ledger: fund an account from the faucet, then
    escrow from it to another ledger's test receiver, through the network's connectors."""
    found = plan.suggested_ledger_payment()
    if found is None:
        return []
    source, conn, receiver = found
    scale = plan.topology.ledgers[source].scale
    ledger = next(p.url for p in plan.parts if p.name == f"ledger:{source}")
    me = f"--account alice-{source} --secret s3cret-{source}"
    return [
        f"ilpnet ledger faucet --ledger {ledger} {me} --amount {10**scale}",
        f"ilpnet pay --from-ledger {ledger} {me} --connector {conn.public_url} "
        f"--to {receiver.invoice_url} --deposit {10**scale // 100} --yes {10**scale // 10}",
    ]


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
@click.option(
    "--base-port",
    type=click.IntRange(1024, 65000),
    default=None,
    help="Look for free ports from here (default: the topology's base_port).",
)
def up(topology: Path | None, state_dir: Path, fresh: bool, base_port: int | None) -> None:
    """Start the network TOPOLOGY names (default: three test ledgers, two connectors
    peered over BTP, a test receiver per ledger and the dashboard)."""
    try:
        topo, _source = load_topology(topology)
        if base_port is not None:
            settings = topo.network.model_copy(update={"base_port": base_port})
            topo = topo.model_copy(update={"network": settings})
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
        command = suggested_send(p)
        if command is not None:
            found = p.suggested_payment()
            assert found is not None
            sender, conn, receiver = found
            to_asset = p.topology.ledgers[receiver.ledger].asset
            console.print(
                f"try a payment: 0.01 {sender.asset} from {conn.name}'s {sender.account} "
                f"to the {to_asset} receiver on {receiver.connector}:"
            )
            console.print(command, soft_wrap=True, highlight=False)
        pay = suggested_pay(p)
        ledger_payment = p.suggested_ledger_payment()
        if pay and ledger_payment is not None:
            source, via, on_ledger = ledger_payment
            console.print(
                f"or on the ledgers: 0.1 {p.topology.ledgers[source].asset} from an account "
                f"on {source} (escrowed to {via.name}) to the receiver on {on_ledger.ledger}:"
            )
            for line in pay:
                console.print(line, soft_wrap=True, highlight=False)
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


def _connector_table(conn: ConnectorStatus) -> Table:
    table = Table(title=f"connector {conn.name} ({conn.address})", title_justify="left")
    table.add_column("account")
    table.add_column("relation")
    table.add_column("linked")
    table.add_column("balance", justify="right")
    for account in conn.accounts:
        table.add_row(
            account.account,
            account.relation,
            "yes" if account.linked else "no",
            f"{AssetDetails(account.asset, account.scale).format(account.balance)}",
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
    for conn in result.connectors:
        if conn.error:
            console.print(f"connector {conn.name}: [red]{conn.error}[/]")
            continue
        console.print(_connector_table(conn))
        routes = ", ".join(f"{prefix} -> {hop}" for prefix, hop in conn.routes) or "none"
        console.print(f"  routes: {routes}", highlight=False)
