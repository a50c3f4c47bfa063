"""Accounts for ledger tests."""

from __future__ import annotations

import hashlib
import os

from ilpnet.ledger.client import LedgerClient


def secret_of(name: str) -> str:
    return f"{name}-secret-0123"


async def open_account(client: LedgerClient, name: str, faucet: int = 0) -> LedgerClient:
    """Create `name` (secret from `secret_of`), fund it from the faucet, return its client."""
    await client.create_account(name, secret_of(name))
    me = client.as_account(name, secret_of(name))
    if faucet:
        await me.faucet(faucet)
    return me


def hashlock() -> tuple[bytes, bytes]:
    """A fresh (preimage, SHA-256 condition) pair."""
    preimage = os.urandom(32)
    return preimage, hashlib.sha256(preimage).digest()
