"""`ilpnet.wire.describe`: reading pasted text, and recognising bytes without ever raising
anything but `UnrecognisedBytes` (random and mutated input, with and without a secret)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ilpnet.crypto.stream_describe import describe_with_secret
from ilpnet.wire.describe import (
    Description,
    UnrecognisedBytes,
    bytes_from_text,
    describe,
    iso_millis,
)
from ilpnet.wire.errors import DecodeError, InvalidValueError
from tests.spec_vectors import spec_dir

VECTOR_FILES = (
    "ilp_prepare.json",
    "ilp_fulfill.json",
    "ilp_reject.json",
    "btp.json",
    "ildcp.json",
    "ccp.json",
)


def vector_packets() -> list[bytes]:
    out: list[bytes] = []
    for name in VECTOR_FILES:
        path = spec_dir() / "vectors" / name
        if path.exists():
            out += [bytes.fromhex(v["hex"]) for v in json.loads(path.read_text())]
    # a STREAM Prepare even without ../shared
    out.append(
        bytes.fromhex(
            "0c68000000000000006b323031373132323330313231343035343974e1136dc71c9e5f283bec"
            "83461cbf1261c4014f72d48f8dd65453a0b84e7de10d6578616d706c652e616c696365205db3"
            "43fdc41898f6df4202329139dc242dd0f558a811b46b28918fdab37c6cb0"
        )
    )
    return out


PACKETS = vector_packets()


def describe_or_refuse(raw: bytes, secret: bytes | None = None) -> Description | None:
    """The description, or None when refused with a well-formed `UnrecognisedBytes`."""
    refusal: UnrecognisedBytes | None = None
    try:
        result = describe(raw) if secret is None else describe_with_secret(raw, secret)
    except UnrecognisedBytes as exc:
        refusal = exc
    if refusal is not None:
        assert refusal.tried
        assert 0 <= refusal.offset <= len(raw)
        assert "\n" not in refusal.summary()
        return None
    json.dumps(result.to_json())  # always JSON-serialisable
    return result


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_described_or_refused(raw: bytes) -> None:
    describe_or_refuse(raw)


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from(PACKETS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 10_000),
    st.booleans(),
)
def test_mutated_packets_are_described_or_refused(
    raw: bytes, flips: list[tuple[int, int]], cut: int, with_secret: bool
) -> None:
    mutated = bytearray(raw)
    for position, value in flips:
        mutated[position % len(mutated)] = value
    truncated = bytes(mutated[: max(1, len(mutated) - cut % 8)])
    describe_or_refuse(truncated, bytes(32) if with_secret else None)


def test_every_vector_packet_is_recognised() -> None:
    for raw in PACKETS:
        assert describe_or_refuse(raw) is not None, raw.hex()


# ---- input text ---------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=80))
def test_hex_text_round_trips(raw: bytes) -> None:
    assert bytes_from_text(raw.hex()) == (raw, "hex")
    assert bytes_from_text(" 0x" + raw.hex().upper() + "\n") == (raw, "hex")


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=80), st.booleans(), st.booleans())
@example(b"\xd1p", False, False)  # "0XA=": base64, not 0x-hex
@example(b"\xd1p\x00", False, False)  # "0XAA": also hex 0xAA
def test_base64_text_round_trips(raw: bytes, url_safe: bool, strip_padding: bool) -> None:
    text = (base64.urlsafe_b64encode if url_safe else base64.b64encode)(raw).decode()
    if strip_padding:
        text = text.rstrip("=")
    got, read_as = bytes_from_text(text)
    if read_as == "base64":
        assert got == raw
    else:  # base64 text that is also valid (0x-prefixed) hex is read as hex, by design
        digits = text[2:] if text[:2] in ("0x", "0X") else text
        assert got == bytes.fromhex(digits)


@pytest.mark.parametrize("text", ["", "   ", "0x", "not hex!", "abc\u00e9", "A"])
def test_text_that_is_not_bytes(text: str) -> None:
    with pytest.raises(InvalidValueError):
        bytes_from_text(text)


def test_unrecognised_bytes_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as info:
        describe(b"\xff\x00")
    assert isinstance(info.value, UnrecognisedBytes)
    assert info.value.offset == 0
    assert "0xff" in info.value.summary()


def test_iso_millis() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    t = datetime(2017, 12, 23, 1, 21, 40, 549_999, UTC)
    assert iso_millis(t) == "2017-12-23T01:21:40.549Z"
    assert iso_millis(t.astimezone(timezone(timedelta(hours=2)))) == "2017-12-23T01:21:40.549Z"
