"""ilpnet: a testnet of testnets, one connected Interledger network on one machine."""

__version__ = "0.1.0"
