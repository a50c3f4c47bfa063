"""The `ilpnet` command group; each subcommand lives in its own module."""

from __future__ import annotations

import click

from ilpnet import __version__
from ilpnet.cli.connector import connector
from ilpnet.cli.decode import decode
from ilpnet.cli.escrow import COMMANDS as ESCROW_COMMANDS
from ilpnet.cli.ledger import ledger
from ilpnet.cli.receive import receive
from ilpnet.cli.send import send
from ilpnet.cli.up import status, up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ilpnet")
def cli() -> None:
    """ilpnet: a testnet of testnets, one connected Interledger network on one machine."""


for _command in (up, status, send, receive, *ESCROW_COMMANDS, connector, ledger, decode):
    cli.add_command(_command)


def main() -> None:
    cli(auto_envvar_prefix="ILPNET")


if __name__ == "__main__":
    main()
