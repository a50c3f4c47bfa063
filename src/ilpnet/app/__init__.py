"""Applications built on links: STREAM, SPSP, faucet, sender and receiver."""
