"""The built-in test ledger: a durable ledger server per testnet, and its client."""
