"""Links: one account relationship of a node (BTP peer, ledger escrow, payment channels)."""
