"""Hashlock conditions: a condition is the SHA-256 of its 32-byte fulfillment (preimage)."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import constant_time, hashes

FULFILLMENT_LENGTH = 32
CONDITION_LENGTH = 32

_SHA256 = hashes.SHA256()


def sha256(data: bytes) -> bytes:
    digest = hashes.Hash(_SHA256)
    digest.update(data)
    return digest.finalize()


def condition_of(fulfillment: bytes) -> bytes:
    """The execution condition that `fulfillment` releases: SHA-256(fulfillment)."""
    return sha256(fulfillment)


def fulfillment_matches(fulfillment: bytes, condition: bytes) -> bool:
    """Whether `fulfillment` is a 32-byte preimage of `condition` (constant-time compare)."""
    if len(fulfillment) != FULFILLMENT_LENGTH or len(condition) != CONDITION_LENGTH:
        return False
    return constant_time.bytes_eq(sha256(fulfillment), bytes(condition))


def random_condition() -> bytes:
    """32 random bytes: a condition nobody can fulfil (STREAM probes and close packets)."""
    return os.urandom(CONDITION_LENGTH)
