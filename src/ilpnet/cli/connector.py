"""`ilpnet connector`: run one connector node from its TOML config, or check the file."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import click

from ilpnet.cli.options import log_level_option
from ilpnet.connector.config import ConfigError
from ilpnet.links.ledger_settlement import FAULT_POINTS
from ilpnet.node.connector_process import (
    NodeConfig,
    NodeStartError,
    RunningConnector,
    configure_logging,
    load_node_config,
    run_connector,
)
from ilpnet.node.garbage_collection import tune_for_throughput

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The connector's TOML file (see examples/connector-a.toml).",
)


def _load(path: Path) -> NodeConfig:
    try:
        return load_node_config(path)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


@click.group()
def connector() -> None:
    """Run an ILP connector node (BTP peers and children, admin API)."""


@connector.command("run")
@config_option
@log_level_option("info")
@click.option(
    "--crash-at",
    type=click.Choice(FAULT_POINTS),
    default=None,
    hidden=True,
    help="Crash tests only: SIGKILL this process the first time a settlement reaches it.",
)
def run_command(config_path: Path, log_level: str, crash_at: str | None) -> None:
    """Run the connector until SIGINT or SIGTERM."""
    config = _load(config_path)
    configure_logging(log_level)

    def crash(point: str) -> None:
        if point == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def ready(node: RunningConnector) -> None:
        if crash_at is not None and node.settler is not None:
            node.settler.fault = crash
        tune_for_throughput()
        admin = f" admin={node.admin_url}" if node.admin_url else ""
        click.echo(f"connector {config.address} listening btp={node.btp_url}{admin}", err=False)

    try:
        asyncio.run(run_connector(config, ready=ready))
    except NodeStartError as err:
        raise click.ClickException(str(err)) from None


@connector.command("check")
@config_option
def check_command(config_path: Path) -> None:
    """Check the config file and summarise it; exit 1 naming the first bad key."""
    config = _load(config_path)
    links = config.links()
    click.echo(f"{config_path}: ok: connector {config.address}, store {config.store}")
    for account_id, account in config.accounts.items():
        link = links.get(account_id)
        how = "no link" if link is None else link.kind
        click.echo(
            f"  account {account_id}: {account.relation.value} "
            f"{account.asset_code}/{account.asset_scale} ({how})"
        )
    for route in config.routes:
        click.echo(f"  route {route.prefix} -> {route.account}")
