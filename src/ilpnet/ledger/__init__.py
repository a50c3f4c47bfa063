"""The built-in test ledger: a durable ledger server per testnet, and its client.

Clients use `LedgerClient`; payment-channel senders sign claims with `sign_claim`
(claim format in `ilpnet.crypto.claims`).
"""

from ilpnet.crypto.claims import generate_claim_key, public_key_bytes, sign_claim, verify_claim
from ilpnet.ledger.client import EventSubscription, LedgerClient
from ilpnet.ledger.errors import LedgerError
from ilpnet.ledger.models import (
    Account,
    Books,
    Channel,
    ChannelState,
    Escrow,
    EscrowState,
    Event,
    EventType,
    LedgerInfo,
    Transfer,
)

__all__ = [
    "Account",
    "Books",
    "Channel",
    "ChannelState",
    "Escrow",
    "EscrowState",
    "Event",
    "EventSubscription",
    "EventType",
    "LedgerClient",
    "LedgerError",
    "LedgerInfo",
    "Transfer",
    "generate_claim_key",
    "public_key_bytes",
    "sign_claim",
    "verify_claim",
]
