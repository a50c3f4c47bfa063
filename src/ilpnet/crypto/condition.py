"""Hashlock conditions: a condition is the SHA-256 of its 32-byte fulfillment (preimage)."""

from __future__ import annotations

import hashlib
import hmac
import os

FULFILLMENT_LENGTH = 32
CONDITION_LENGTH = 32


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def condition_of(fulfillment: bytes) -> bytes:
    """The execution condition that `fulfillment` releases: SHA-256(fulfillment)."""
    return sha256(fulfillment)


def fulfillment_matches(fulfillment: bytes, condition: bytes) -> bool:
    """Whether `fulfillment` is a 32-byte preimage of `condition` (constant-time compare)."""
    if len(fulfillment) != FULFILLMENT_LENGTH or len(condition) != CONDITION_LENGTH:
        return False
    return hmac.compare_digest(sha256(fulfillment), bytes(condition))


def random_condition() -> bytes:
    """32 random bytes: a condition nobody can fulfil (STREAM probes and close packets)."""
    return os.urandom(CONDITION_LENGTH)
