"""Fixtures of the escrow tests: three ledger processes and an escrow connector."""

from tests.links.escrow_net import connector, ledgers

__all__ = ["connector", "ledgers"]
