"""STREAM cryptography (spec 07 §2–4, §7, §12): keys derived from the shared secret, the
AES-256-GCM envelope `iv || tag || ciphertext`, fulfillments and conditions of STREAM
Prepares, the reference server's shared-secret derivation, and receipts.

    IlpError
    ├── StreamDecryptError     F06: STREAM data that cannot be decrypted or read
    └── InvalidReceiptError    F00: a receipt that is malformed or not authentic

`StreamCrypto(shared_secret)` holds the derived keys of one connection; build it once and
reuse it (the module functions taking a shared secret keep a small cache of them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ilpnet.crypto.condition import condition_of
from ilpnet.wire.errors import DecodeError, ErrorCode, IlpError, InvalidValueError
from ilpnet.wire.oer import UINT8_MAX, UINT64_MAX
from ilpnet.wire.stream import StreamPacket

ENCRYPTION_KEY_STRING = b"ilp_stream_encryption"
FULFILLMENT_KEY_STRING = b"ilp_stream_fulfillment"
SHARED_SECRET_KEY_STRING = b"ilp_stream_shared_secret"

IV_LENGTH = 12
AUTH_TAG_LENGTH = 16
ENVELOPE_OVERHEAD = IV_LENGTH + AUTH_TAG_LENGTH
"""Bytes an envelope adds to its plaintext (28)."""

_SHA256 = hashes.SHA256()


class StreamDecryptError(IlpError):
    """STREAM data that cannot be decrypted (wrong key, tampered, truncated) or read.

    A receiver answers such a Prepare with F06 Unexpected Payment and empty data (§4).
    """

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F06_UNEXPECTED_PAYMENT, message)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    mac = hmac.HMAC(key, _SHA256)
    mac.update(message)
    return mac.finalize()


def encryption_key(shared_secret: bytes) -> bytes:
    """The AES-256 key: HMAC-SHA256(shared_secret, "ilp_stream_encryption")."""
    return hmac_sha256(shared_secret, ENCRYPTION_KEY_STRING)


def fulfillment_key(shared_secret: bytes) -> bytes:
    """The key fulfillments are made with: HMAC-SHA256(shared_secret, "ilp_stream_fulfillment")."""
    return hmac_sha256(shared_secret, FULFILLMENT_KEY_STRING)


def _seal(aead: AESGCM, plaintext: bytes, iv: bytes | None) -> bytes:
    if iv is None:
        iv = os.urandom(IV_LENGTH)
    elif len(iv) != IV_LENGTH:
        raise InvalidValueError(f"STREAM IV must be {IV_LENGTH} bytes, got {len(iv)}")
    sealed = aead.encrypt(iv, plaintext, None)  # ciphertext || tag
    return iv + sealed[-AUTH_TAG_LENGTH:] + sealed[:-AUTH_TAG_LENGTH]


def _unseal(aead: AESGCM, data: bytes) -> bytes:
    if len(data) < ENVELOPE_OVERHEAD:
        raise StreamDecryptError(
            f"STREAM data of {len(data)} bytes is shorter than the {ENVELOPE_OVERHEAD}-byte "
            "envelope"
        )
    try:
        return aead.decrypt(
            data[:IV_LENGTH], data[ENVELOPE_OVERHEAD:] + data[IV_LENGTH:ENVELOPE_OVERHEAD], None
        )
    except InvalidTag:
        raise StreamDecryptError(
            "STREAM data failed authentication (wrong shared secret or tampered)"
        ) from None


def encrypt(key: bytes, plaintext: bytes, iv: bytes | None = None) -> bytes:
    """AES-256-GCM under the 32-byte *encryption key*, as `iv || tag || ciphertext`.

    The IV is random unless given (only tests pin it; never reuse one with a key).
    """
    return _seal(AESGCM(key), plaintext, iv)


def decrypt(key: bytes, data: bytes) -> bytes:
    """Open an `iv || tag || ciphertext` envelope under the *encryption key*."""
    return _unseal(AESGCM(key), data)


class StreamCrypto:
    """The derived keys of one STREAM connection, ready to use.

    >>> sc = StreamCrypto(shared_secret)
    >>> data = sc.seal(packet)                  # ILP Prepare data
    >>> condition = sc.condition(data)          # its execution condition
    >>> sc.open(data) == packet
    True
    """

    __slots__ = ("_aead", "_fulfillment_mac")

    _aead: AESGCM
    _fulfillment_mac: hmac.HMAC

    def __init__(self, shared_secret: bytes) -> None:
        self._set_keys(encryption_key(shared_secret), fulfillment_key(shared_secret))

    @classmethod
    def from_keys(cls, encryption_key: bytes, fulfillment_key: bytes) -> StreamCrypto:
        """From already-derived keys rather than the shared secret."""
        crypto = cls.__new__(cls)
        crypto._set_keys(encryption_key, fulfillment_key)
        return crypto

    def _set_keys(self, encryption_key: bytes, fulfillment_key: bytes) -> None:
        self._aead = AESGCM(encryption_key)
        self._fulfillment_mac = hmac.HMAC(fulfillment_key, _SHA256)

    def encrypt(self, plaintext: bytes, iv: bytes | None = None) -> bytes:
        return _seal(self._aead, plaintext, iv)

    def decrypt(self, data: bytes) -> bytes:
        """The plaintext of an envelope; `StreamDecryptError` if it does not authenticate."""
        return _unseal(self._aead, data)

    def fulfillment(self, data: bytes) -> bytes:
        """The fulfillment of a Prepare carrying `data` (the encrypted envelope, §7)."""
        mac = self._fulfillment_mac.copy()
        mac.update(data)
        return mac.finalize()

    def condition(self, data: bytes) -> bytes:
        """The execution condition of a fulfillable Prepare carrying `data`."""
        return condition_of(self.fulfillment(data))

    def seal(
        self, packet: StreamPacket, iv: bytes | None = None, pad_to: int | None = None
    ) -> bytes:
        """Encode and encrypt; with `pad_to`, zero-pad so the envelope is exactly that long."""
        plaintext = packet.encode()
        if pad_to is not None:
            padding = pad_to - ENVELOPE_OVERHEAD - len(plaintext)
            if padding < 0:
                raise InvalidValueError(
                    f"STREAM packet needs {len(plaintext) + ENVELOPE_OVERHEAD} bytes, "
                    f"more than pad_to={pad_to}"
                )
            plaintext += bytes(padding)
        return _seal(self._aead, plaintext, iv)

    def open(self, data: bytes) -> StreamPacket:
        """Decrypt and decode; any failure is a `StreamDecryptError` (F06, as the ref impl)."""
        plaintext = _unseal(self._aead, data)
        try:
            return StreamPacket.decode(plaintext)
        except DecodeError as exc:
            raise StreamDecryptError(f"decrypted STREAM packet is malformed: {exc}") from exc


@lru_cache(maxsize=1024)
def stream_crypto(shared_secret: bytes) -> StreamCrypto:
    """The (cached) `StreamCrypto` of a shared secret."""
    return StreamCrypto(shared_secret)


def _crypto(secret: bytes | StreamCrypto) -> StreamCrypto:
    return secret if isinstance(secret, StreamCrypto) else stream_crypto(bytes(secret))


def seal_packet(
    shared_secret: bytes | StreamCrypto,
    packet: StreamPacket,
    *,
    iv: bytes | None = None,
    pad_to: int | None = None,
) -> bytes:
    """A STREAM packet encoded and encrypted for ILP `data`."""
    return _crypto(shared_secret).seal(packet, iv, pad_to)


def open_packet(shared_secret: bytes | StreamCrypto, data: bytes) -> StreamPacket:
    """The STREAM packet in ILP `data`; `StreamDecryptError` (F06) if it cannot be had."""
    return _crypto(shared_secret).open(data)


def fulfillment_for(shared_secret: bytes | StreamCrypto, data: bytes) -> bytes:
    """HMAC-SHA256(fulfillment_key, data) for the Prepare carrying `data`."""
    return _crypto(shared_secret).fulfillment(data)


def condition_for(shared_secret: bytes | StreamCrypto, data: bytes) -> bytes:
    """SHA-256 of `fulfillment_for(shared_secret, data)`."""
    return _crypto(shared_secret).condition(data)


def server_shared_secret(server_secret: bytes, token: bytes) -> bytes:
    """The reference server's per-connection secret (§2, a local choice):
    HMAC-SHA256(HMAC-SHA256(server_secret, "ilp_stream_shared_secret"), token),
    where `token` is the base64url-decoded address segment the server issued."""
    return hmac_sha256(hmac_sha256(server_secret, SHARED_SECRET_KEY_STRING), token)


# ---- receipts (RFC 0039, deprecated) ----------------------------------------------------

RECEIPT_VERSION = 1
RECEIPT_NONCE_LENGTH = 16
RECEIPT_LENGTH = 58
_RECEIPT_BODY_LENGTH = 26


class InvalidReceiptError(IlpError):
    """A STREAM receipt that is malformed or whose HMAC does not match the secret."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F00_BAD_REQUEST, message)


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a receipt proves: `total_received` on stream `stream_id` of the connection
    set up with `nonce` (§12). The stream id is a single byte in receipts."""

    nonce: bytes
    stream_id: int
    total_received: int
    version: int = RECEIPT_VERSION

    def __post_init__(self) -> None:
        if len(self.nonce) != RECEIPT_NONCE_LENGTH:
            raise InvalidValueError(f"receipt nonce must be 16 bytes, got {len(self.nonce)}")
        if not 0 <= self.stream_id <= UINT8_MAX:
            raise InvalidValueError(f"receipt stream_id {self.stream_id} does not fit a UInt8")
        if not 0 <= self.total_received <= UINT64_MAX:
            raise InvalidValueError(f"receipt total_received {self.total_received} not uint64")
        if self.version != RECEIPT_VERSION:
            raise InvalidValueError(f"unsupported receipt version {self.version}")

    def body(self) -> bytes:
        """The 26 signed bytes: version || nonce || streamId || totalReceived."""
        return (
            bytes((self.version,))
            + self.nonce
            + bytes((self.stream_id,))
            + self.total_received.to_bytes(8, "big")
        )

    def sign(self, secret: bytes) -> bytes:
        """The 58-byte receipt: body || HMAC-SHA256(secret, body)."""
        body = self.body()
        return body + hmac_sha256(secret, body)


def build_receipt(secret: bytes, nonce: bytes, stream_id: int, total_received: int) -> bytes:
    """A signed 58-byte receipt for `total_received` on `stream_id`."""
    return Receipt(nonce, stream_id, total_received).sign(secret)


def verify_receipt(secret: bytes, receipt: bytes) -> Receipt:
    """Check a receipt's length, version and HMAC; return what it proves."""
    if len(receipt) != RECEIPT_LENGTH:
        raise InvalidReceiptError(f"receipt must be {RECEIPT_LENGTH} bytes, got {len(receipt)}")
    if receipt[0] != RECEIPT_VERSION:
        raise InvalidReceiptError(f"unsupported receipt version {receipt[0]}")
    body = receipt[:_RECEIPT_BODY_LENGTH]
    if not constant_time.bytes_eq(hmac_sha256(secret, body), receipt[_RECEIPT_BODY_LENGTH:]):
        raise InvalidReceiptError("receipt HMAC does not match the secret")
    return Receipt(
        nonce=body[1:17],
        stream_id=body[17],
        total_received=int.from_bytes(body[18:26], "big"),
    )
