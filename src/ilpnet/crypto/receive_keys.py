"""Receive keys: a receiver derives each payment's fulfillment from its key and a payment id.

For payment id ``pid`` (16 random bytes) paid to ``address`` the fulfillment is
``HMAC-SHA256(receive_key, "ilpnet-escrow-pay" || address || pid)`` and the condition its
SHA-256. The Prepare's data carries ``escrow-pay:<pid hex>`` so the receiver can recompute
the fulfillment from the packet alone. A receive key is by default a one-way function of
the receiver's account secret, so handing it to a sender reveals nothing else.
"""

from __future__ import annotations

import hashlib
import hmac

DATA_PREFIX = b"escrow-pay:"
PAYMENT_ID_LENGTH = 16


def receive_key_from_secret(secret: str) -> bytes:
    """The default receive key of an account: a one-way function of its secret."""
    return hmac.new(secret.encode(), b"ilpnet escrow receive key", hashlib.sha256).digest()


def fulfillment_for(receive_key: bytes, address: str, payment_id: bytes) -> bytes:
    msg = b"ilpnet-escrow-pay" + address.encode() + payment_id
    return hmac.new(receive_key, msg, hashlib.sha256).digest()


def condition_for(receive_key: bytes, address: str, payment_id: bytes) -> bytes:
    return hashlib.sha256(fulfillment_for(receive_key, address, payment_id)).digest()


def payment_data(payment_id: bytes) -> bytes:
    """The Prepare data that names payment `payment_id`."""
    return DATA_PREFIX + payment_id.hex().encode()


def payment_id_of(data: bytes) -> bytes | None:
    """The payment id a Prepare's data names, or None."""
    if not data.startswith(DATA_PREFIX):
        return None
    try:
        pid = bytes.fromhex(data[len(DATA_PREFIX) :].decode("ascii"))
    except ValueError:
        return None
    return pid if len(pid) == PAYMENT_ID_LENGTH else None
