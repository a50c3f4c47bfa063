"""The connector: a pipeline of steps around a routing table, rates, balances and a store."""
