"""STREAM keys, the AES-256-GCM envelope, fulfillments, server secrets and receipts,
against the shared vectors; tampering and wrong keys must fail with F06."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.crypto.condition import condition_of, fulfillment_matches
from ilpnet.crypto.stream_keys import (
    ENVELOPE_OVERHEAD,
    InvalidReceiptError,
    Receipt,
    StreamCrypto,
    StreamDecryptError,
    build_receipt,
    condition_for,
    decrypt,
    encrypt,
    encryption_key,
    fulfillment_for,
    fulfillment_key,
    hmac_sha256,
    open_packet,
    seal_packet,
    server_shared_secret,
    stream_crypto,
    verify_receipt,
)
from ilpnet.wire.errors import ErrorCode, IlpError, InvalidValueError
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from ilpnet.wire.stream import (
    ConnectionClose,
    IlpPacketType,
    StreamData,
    StreamErrorCode,
    StreamMoney,
    StreamPacket,
    StreamReceipt,
)
from tests.spec_vectors import Vector, load_vectors
from tests.wire.test_stream import packet_from

SECRET = bytes.fromhex("b7b6a2c7f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b")
PACKET = StreamPacket(IlpPacketType.PREPARE, 7, 990, (StreamMoney(1, 1), StreamData(1, 0, b"hi")))


def _h(fields: dict[str, Any], key: str) -> bytes:
    return bytes.fromhex(fields[key])


def _check_stream_data(f: dict[str, Any], data: bytes) -> None:
    """`data` opens under the vector's shared secret to its STREAM packet, and sealing that
    packet again with the envelope's IV gives `data` back byte for byte."""
    secret = _h(f, "sharedSecret")
    packet = packet_from(f["stream_packet"])
    assert open_packet(secret, data) == packet
    assert seal_packet(secret, packet, iv=data[:12]) == data


@pytest.mark.parametrize("v", load_vectors("stream_crypto.json"))
def test_stream_crypto_vector(v: Vector) -> None:
    f = v["fields"]
    want = bytes.fromhex(v["hex"])
    kind = f["kind"]
    if kind == "encryption_key":
        assert encryption_key(_h(f, "sharedSecret")) == want
    elif kind == "fulfillment_key":
        assert fulfillment_key(_h(f, "sharedSecret")) == want
    elif kind == "fulfillment":
        key = _h(f, "fulfillmentKey")
        assert hmac_sha256(key, _h(f, "data")) == want
        assert StreamCrypto.from_keys(bytes(32), key).fulfillment(_h(f, "data")) == want
    elif kind == "condition":
        assert condition_of(_h(f, "fulfillment")) == want
    elif kind == "encrypt":
        key, iv, plaintext = _h(f, "encryptionKey"), _h(f, "iv"), _h(f, "plaintext")
        assert encrypt(key, plaintext, iv) == want
        assert decrypt(key, want) == plaintext
        if "authTag" in f:
            assert want[12:28] == _h(f, "authTag")
        if "sharedSecret" in f:
            assert encryption_key(_h(f, "sharedSecret")) == key
        if "stream_packet" in f:
            packet = packet_from(f["stream_packet"])
            crypto = StreamCrypto.from_keys(key, bytes(32))
            assert crypto.open(want) == packet
            assert crypto.seal(packet, iv, pad_to=len(want)) == want
    elif kind == "stream_ilp_prepare":
        secret, data = _h(f, "sharedSecret"), _h(f, "data")
        _check_stream_data(f, data)
        prepare = Prepare(
            amount=int(f["amount"]),
            expires_at=datetime.fromisoformat(f["expiresAt"]),
            execution_condition=condition_for(secret, data),
            destination=f["destination"],
            data=data,
        )
        assert prepare.execution_condition == _h(f, "executionCondition")
        assert fulfillment_for(secret, data) == _h(f, "fulfillment")
        assert Prepare.decode(want) == prepare
        assert prepare.encode() == want
    elif kind == "stream_ilp_fulfill":
        secret, data = _h(f, "sharedSecret"), _h(f, "data")
        _check_stream_data(f, data)
        response = seal_packet(secret, packet_from(f["stream_packet"]), iv=_h(f, "iv"))
        fulfill = Fulfill(_h(f, "fulfillment"), response)
        assert Fulfill.decode(want) == fulfill
        assert fulfill.encode() == want
    elif kind == "stream_ilp_reject":
        secret, data = _h(f, "sharedSecret"), _h(f, "data")
        _check_stream_data(f, data)
        response = seal_packet(secret, packet_from(f["stream_packet"]), iv=_h(f, "iv"))
        reject = Reject(f["code"], f["triggeredBy"], f["message"], response)
        assert Reject.decode(want) == reject
        assert reject.encode() == want
    elif kind == "server_shared_secret":
        assert server_shared_secret(_h(f, "serverSecret"), _h(f, "token")) == want
    elif kind == "receipt":
        secret, nonce = _h(f, "secret"), _h(f, "nonce")
        stream_id, total = int(f["streamId"]), int(f["totalReceived"])
        assert build_receipt(secret, nonce, stream_id, total) == want
        assert verify_receipt(secret, want) == Receipt(nonce, stream_id, total, f["version"])
    else:  # pragma: no cover - a new kind in the vectors must be handled here
        raise AssertionError(f"unknown vector kind {kind}")


def test_stream_payment_through_real_ilp_packets() -> None:
    """Sender seals a money packet into a Prepare; the receiver opens it, recomputes the
    fulfillment from the data, and answers with a sealed Fulfill the sender can read."""
    sender, receiver = StreamCrypto(SECRET), StreamCrypto(SECRET)
    data = sender.seal(PACKET)
    prepare_raw = Prepare(
        1000,
        datetime.fromisoformat("2030-01-01T00:00:00.000Z"),
        sender.condition(data),
        "test.receiver.abc",
        data,
    ).encode()

    prepare = Prepare.decode(prepare_raw)
    request = receiver.open(prepare.data)
    assert request == PACKET
    fulfillment = receiver.fulfillment(prepare.data)
    assert fulfillment_matches(fulfillment, prepare.execution_condition)
    reply = StreamPacket(IlpPacketType.FULFILL, request.sequence, prepare.amount)
    fulfill_raw = Fulfill(fulfillment, receiver.seal(reply)).encode()

    fulfill = Fulfill.decode(fulfill_raw)
    assert fulfillment_matches(fulfill.fulfillment, sender.condition(data))
    assert sender.open(fulfill.data) == reply

    # an intermediary swapping in other data breaks the condition, not only decryption
    other = sender.seal(PACKET)
    assert not fulfillment_matches(receiver.fulfillment(other), prepare.execution_condition)


# ---- the envelope ------------------------------------------------------------------------


def test_seal_open_round_trip_with_random_ivs() -> None:
    a, b = seal_packet(SECRET, PACKET), seal_packet(SECRET, PACKET)
    assert a != b  # fresh IV each time
    assert len(a) == len(PACKET.encode()) + ENVELOPE_OVERHEAD
    assert open_packet(SECRET, a) == open_packet(SECRET, b) == PACKET


def test_cached_crypto_agrees_with_a_fresh_one() -> None:
    assert stream_crypto(SECRET) is stream_crypto(SECRET)
    crypto = StreamCrypto(SECRET)
    data = crypto.seal(PACKET)
    assert open_packet(SECRET, data) == PACKET
    assert crypto.fulfillment(data) == fulfillment_for(SECRET, data)
    assert crypto.condition(data) == condition_for(crypto, data)
    assert condition_of(crypto.fulfillment(data)) == crypto.condition(data)


@pytest.mark.parametrize("region", ["iv", "tag", "ciphertext"])
def test_tampered_envelope_is_refused(region: str) -> None:
    data = bytearray(seal_packet(SECRET, PACKET))
    index = {"iv": 3, "tag": 20, "ciphertext": len(data) - 1}[region]
    data[index] ^= 0x01
    with pytest.raises(StreamDecryptError, match="failed authentication"):
        open_packet(SECRET, bytes(data))


@settings(max_examples=60)
@given(st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    sealed = bytearray(seal_packet(SECRET, PACKET))
    sealed[data.draw(st.integers(0, len(sealed) - 1))] ^= data.draw(st.integers(1, 255))
    with pytest.raises(StreamDecryptError):
        StreamCrypto(SECRET).decrypt(bytes(sealed))


def test_wrong_secret_truncation_and_extension_are_refused() -> None:
    data = seal_packet(SECRET, PACKET)
    with pytest.raises(StreamDecryptError):
        open_packet(bytes(32), data)
    with pytest.raises(StreamDecryptError):
        open_packet(SECRET, data[:-1])
    with pytest.raises(StreamDecryptError):
        open_packet(SECRET, data + b"\x00")
    with pytest.raises(StreamDecryptError, match="shorter than the 28-byte envelope"):
        open_packet(SECRET, data[:27])
    with pytest.raises(StreamDecryptError):
        open_packet(SECRET, b"")


def test_decrypt_error_is_an_f06_reject_with_no_data() -> None:
    with pytest.raises(IlpError) as caught:
        open_packet(SECRET, bytes(40))
    assert isinstance(caught.value, StreamDecryptError)
    assert caught.value.code is ErrorCode.F06_UNEXPECTED_PAYMENT
    assert caught.value.data == b""


def test_authentic_but_malformed_plaintext_is_f06() -> None:
    crypto = StreamCrypto(SECRET)
    for plaintext in (b"", b"\x01", bytes.fromhex("020c010001000100")):
        with pytest.raises(StreamDecryptError, match="malformed"):
            crypto.open(crypto.encrypt(plaintext))


def test_padding() -> None:
    close = StreamPacket(IlpPacketType.PREPARE, 3, 0, (ConnectionClose(StreamErrorCode.NO_ERROR),))
    data = seal_packet(SECRET, close, pad_to=32767)
    assert len(data) == 32767
    assert open_packet(SECRET, data) == close
    exact = len(close.encode()) + ENVELOPE_OVERHEAD
    assert len(seal_packet(SECRET, close, pad_to=exact)) == exact
    with pytest.raises(InvalidValueError, match="more than pad_to"):
        seal_packet(SECRET, close, pad_to=exact - 1)


def test_iv_must_be_12_bytes() -> None:
    with pytest.raises(InvalidValueError, match="IV must be 12 bytes"):
        seal_packet(SECRET, PACKET, iv=bytes(16))


@settings(max_examples=40)
@given(st.binary(max_size=200), st.binary(min_size=1, max_size=40))
def test_encrypt_decrypt_round_trip(plaintext: bytes, secret: bytes) -> None:
    key = encryption_key(secret)
    data = encrypt(key, plaintext)
    assert len(data) == len(plaintext) + ENVELOPE_OVERHEAD
    assert decrypt(key, data) == plaintext
    assert StreamCrypto(secret).decrypt(data) == plaintext


# ---- receipts ------------------------------------------------------------------------------

RECEIPT_SECRET = bytes(32)
NONCE = bytes(16)


def test_receipt_in_the_rfc_frame_vector_verifies() -> None:
    packet = StreamPacket.decode(
        bytes.fromhex(
            "010c010001000101173d01013a01000000000000000000000000000000000100000000000001f4"
            "c122fa0252debb672d591823f710e99516d67385cf397da87cc8f9e8c8bf5130"
        )
    )
    frame = packet.frames[0]
    assert isinstance(frame, StreamReceipt)
    assert verify_receipt(RECEIPT_SECRET, frame.receipt) == Receipt(NONCE, 1, 500)


def test_forged_or_malformed_receipts_are_refused() -> None:
    receipt = build_receipt(RECEIPT_SECRET, NONCE, 1, 500)
    assert len(receipt) == 58
    with pytest.raises(InvalidReceiptError, match="HMAC"):
        verify_receipt(b"\x01" * 32, receipt)
    raised = bytearray(receipt)
    raised[25] = 0xFF  # claim more received
    with pytest.raises(InvalidReceiptError, match="HMAC"):
        verify_receipt(RECEIPT_SECRET, bytes(raised))
    with pytest.raises(InvalidReceiptError, match="58 bytes"):
        verify_receipt(RECEIPT_SECRET, receipt[:-1])
    with pytest.raises(InvalidReceiptError, match="version"):
        verify_receipt(RECEIPT_SECRET, b"\x02" + receipt[1:])


@pytest.mark.parametrize(
    ("nonce", "stream_id", "total"),
    [(bytes(15), 1, 0), (NONCE, 256, 0), (NONCE, -1, 0), (NONCE, 1, 2**64)],
)
def test_receipt_values_are_checked(nonce: bytes, stream_id: int, total: int) -> None:
    with pytest.raises(InvalidValueError):
        build_receipt(RECEIPT_SECRET, nonce, stream_id, total)
