"""The `ilpnet` command group; each subcommand lives in its own module."""

from __future__ import annotations

import click

from ilpnet import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ilpnet")
def cli() -> None:
    """ilpnet: a testnet of testnets, one connected Interledger network on one machine."""


def main() -> None:
    cli(auto_envvar_prefix="ILPNET")
