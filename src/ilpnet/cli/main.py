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


from ilpnet.cli.up import status, up  # noqa: E402

cli.add_command(up)
cli.add_command(status)

from ilpnet.cli.ledger import ledger  # noqa: E402

cli.add_command(ledger)

from ilpnet.cli.decode import decode  # noqa: E402

cli.add_command(decode)

from ilpnet.cli.connector import connector  # noqa: E402

cli.add_command(connector)

from ilpnet.cli.escrow import COMMANDS as ESCROW_COMMANDS  # noqa: E402

for _command in ESCROW_COMMANDS:
    cli.add_command(_command)

from ilpnet.cli.send import send  # noqa: E402

cli.add_command(send)

from ilpnet.cli.receive import receive  # noqa: E402

cli.add_command(receive)

if __name__ == "__main__":
    main()
