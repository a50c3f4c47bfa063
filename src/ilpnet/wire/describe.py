"""What some bytes are: recognise ILP, ILDCP, CCP and BTP packets and describe every field
as JSON-ready values (what `ilpnet decode` shows).

JSON conventions are those of the spec vectors: amounts and other 64-bit or VarUInt
quantities as decimal strings, small fixed fields (types, codes, scales, request ids,
epochs) as numbers, bytes as lowercase hex, times as ISO 8601 UTC with milliseconds and
`Z`, UUIDs in canonical form.

Recognition order: the first byte picks ILP (12-14) or BTP (1-7); an ILP Prepare to
`peer.config` is an ILDCP request, one to `peer.route.control` / `peer.route.update` a CCP
message, and a Fulfill with the zero fulfillment whose data parses as an ILDCP response is
one. Nothing in the bytes says "ILDCP" or "CCP", so those labels are a reading, and the
description notes how it was reached.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final
from uuid import UUID

from ilpnet.wire.btp import BtpPacket, BtpType, ContentType, ProtocolData, decode_btp
from ilpnet.wire.ccp import (
    PEER_ROUTE_CONTROL,
    PEER_ROUTE_UPDATE,
    RouteControlRequest,
    RouteProp,
    RouteUpdateRequest,
    ccp_request_from_prepare,
)
from ilpnet.wire.errors import DecodeError, ErrorCode, InvalidValueError
from ilpnet.wire.ildcp import (
    PEER_CONFIG,
    PEER_PROTOCOL_CONDITION,
    PEER_PROTOCOL_FULFILLMENT,
    IldcpRequest,
    IldcpResponse,
)
from ilpnet.wire.packet import (
    FULFILL,
    PREPARE,
    REJECT,
    AmountTooLargeData,
    Fulfill,
    IlpPacket,
    Prepare,
    Reject,
    decode_packet,
)
from ilpnet.wire.stream import StreamPacket

JsonObject = dict[str, Any]

IlpInspector = Callable[[IlpPacket], JsonObject]
"""Extra fields for an end-to-end ILP packet (e.g. its decrypted STREAM packet)."""

ILP_TYPE_NAMES: Final = {PREPARE: "ILP Prepare", FULFILL: "ILP Fulfill", REJECT: "ILP Reject"}
BTP_TYPE_NAMES: Final = {t.value: f"BTP {t.name.title()}" for t in BtpType}

# Integer fields written as JSON numbers (small fixed-size fields); other ints are strings.
_NUMBER_FIELDS: Final = frozenset(
    {
        "version",
        "ilp_packet_type",
        "request_id",
        "content_type",
        "asset_scale",
        "source_asset_scale",
        "error_code",
        "mode",
        "last_known_epoch",
        "current_epoch_index",
        "from_epoch_index",
        "to_epoch_index",
        "hold_down_time",
        "id",
    }
)


# ---- input text ------------------------------------------------------------------------

_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_HEX_DIGITS: Final = frozenset(string.hexdigits)
_BASE64_CHARS: Final = frozenset(string.ascii_letters + string.digits + "+/-_=")


def bytes_from_text(text: str) -> tuple[bytes, str]:
    """The bytes a user pasted, and how they were read ("hex" or "base64").

    Hex (optionally `0x`-prefixed, whitespace ignored) wins when the text is valid hex;
    otherwise standard or URL-safe base64, padding optional. `InvalidValueError` if neither.
    """
    compact = "".join(text.split())
    digits = compact[2:] if compact[:2].lower() == "0x" else compact
    if not digits:
        raise InvalidValueError("no input: give the packet as hex or base64")
    if len(digits) % 2 == 0 and _HEX_DIGITS.issuperset(digits):
        return bytes.fromhex(digits), "hex"
    if _BASE64.fullmatch(compact) and len(compact.rstrip("=")) % 4 != 1:
        standard = compact.rstrip("=").replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True), "base64"
        except binascii.Error:  # pragma: no cover - the pattern and length checks exclude it
            pass
    raise InvalidValueError(
        f"input is neither hex ({_first_bad(compact, _HEX_DIGITS, 'odd number of digits')}) "
        f"nor base64 ({_first_bad(compact, _BASE64_CHARS, 'misplaced = or impossible length')})"
    )


def _first_bad(text: str, alphabet: frozenset[str], otherwise: str) -> str:
    for i, c in enumerate(text):
        if c not in alphabet:
            return f"{c!r} at character {i}"
    return f"{otherwise}: {len(text)} characters"


# ---- field conversion ------------------------------------------------------------------


def iso_millis(t: datetime) -> str:
    """`2017-12-23T01:21:40.549Z`: ISO 8601, UTC, milliseconds."""
    t = t.astimezone(UTC)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def json_value(value: object, name: str = "") -> Any:
    """A codec value in the vectors' JSON conventions; `name` is its snake_case field."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):  # includes IntEnum/IntFlag
        return int(value) if name in _NUMBER_FIELDS else str(int(value))
    if isinstance(value, str):  # includes StrEnum
        return str(value.value) if isinstance(value, Enum) else value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return iso_millis(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, RouteProp):
        return route_prop_fields(value)
    if isinstance(value, tuple | list):
        return [json_value(item, name) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclass_fields(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")  # pragma: no cover


def dataclass_fields(value: Any) -> JsonObject:
    """Every field of a codec dataclass, camelCase keys, JSON values."""
    return {
        camel_case(f.name): json_value(getattr(value, f.name), f.name)
        for f in dataclasses.fields(value)
    }


def route_prop_fields(prop: RouteProp) -> JsonObject:
    """A CCP route property as the vectors write it: text values as text."""
    return {
        "isOptional": prop.is_optional,
        "isTransitive": prop.is_transitive,
        "isPartial": prop.is_partial,
        "isUtf8": prop.is_utf8,
        "id": prop.id,
        "value": prop.value.decode("utf-8") if prop.is_utf8 else prop.value.hex(),
    }


def prepare_fields(p: Prepare) -> JsonObject:
    return {
        "type": PREPARE,
        "amount": str(p.amount),
        "expiresAt": iso_millis(p.expires_at),
        "executionCondition": p.execution_condition.hex(),
        "destination": p.destination,
        "data": p.data.hex(),
    }


def fulfill_fields(f: Fulfill) -> JsonObject:
    return {"type": FULFILL, "fulfillment": f.fulfillment.hex(), "data": f.data.hex()}


def reject_fields(r: Reject) -> JsonObject:
    known = r.code if isinstance(r.code, ErrorCode) else None
    code = known.value if known else str(r.code)
    out: JsonObject = {
        "type": REJECT,
        "code": code,
        "codeName": known.label if known else "unassigned code",
        "errorClass": r.error_class.name.lower(),
        "triggeredBy": r.triggered_by,
        "message": r.message,
        "data": r.data.hex(),
    }
    if code == ErrorCode.F08_AMOUNT_TOO_LARGE.value and r.data:
        try:
            out["amountTooLarge"] = dataclass_fields(AmountTooLargeData.decode(r.data))
        except DecodeError as exc:
            out["amountTooLargeError"] = f"{exc.reason} at offset {exc.offset}"
    return out


def payload_fields(payload: RouteControlRequest | RouteUpdateRequest | IldcpResponse) -> JsonObject:
    """A CCP or ILDCP payload; route control also names its mode."""
    out = dataclass_fields(payload)
    if isinstance(payload, RouteControlRequest):
        out["modeName"] = payload.mode.name
    return out


def stream_packet_fields(packet: StreamPacket) -> JsonObject:
    """A STREAM packet as in `stream_packets.json`: frames with `type` and `name`."""
    return {
        "version": packet.version,
        "ilpPacketType": int(packet.ilp_packet_type),
        "sequence": str(packet.sequence),
        "prepareAmount": str(packet.prepare_amount),
        "frames": [
            {"type": int(frame.TYPE), "name": type(frame).__name__, **dataclass_fields(frame)}
            for frame in packet.frames
        ],
    }


def protocol_data_fields(entry: ProtocolData, inspect: IlpInspector | None) -> JsonObject:
    """One BTP protocol-data entry; text is shown as text and an `ilp` entry is decoded."""
    out: JsonObject = {
        "protocolName": entry.protocol_name,
        "contentType": int(entry.content_type),
        "data": entry.data.hex(),
    }
    if entry.content_type in (ContentType.TEXT, ContentType.JSON):
        try:
            out["text"] = entry.data.decode("utf-8")
        except UnicodeDecodeError:
            out["textError"] = "not valid UTF-8"
    if entry.protocol_name == "ilp" and entry.data:
        try:
            out["ilpPacket"] = describe_ilp(decode_packet(entry.data), inspect).to_json()
        except DecodeError as exc:
            out["ilpError"] = f"{exc.reason} at offset {exc.offset}"
    return out


def btp_fields(packet: BtpPacket, inspect: IlpInspector | None) -> JsonObject:
    out: JsonObject = {"type": int(packet.TYPE), "typeName": packet.TYPE.name.title()}
    for f in dataclasses.fields(packet):
        value = getattr(packet, f.name)
        if f.name == "protocol_data":
            out["protocolData"] = [protocol_data_fields(e, inspect) for e in value]
        else:
            out[camel_case(f.name)] = json_value(value, f.name)
    return out


# ---- recognising -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Description:
    """What the bytes are (`kind`, `title`), every field (`fields`, JSON-ready), the
    decoded packet, and notes on how the bytes were read."""

    kind: str
    title: str
    fields: JsonObject
    packet: object
    notes: tuple[str, ...] = ()

    def to_json(self) -> JsonObject:
        out: JsonObject = {"kind": self.kind, "title": self.title, **self.fields}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class UnrecognisedBytes(DecodeError):
    """No decoder accepted the bytes. `offset`/`reason` are from the most relevant decoder
    (the one whose type byte matched, else ILP); `tried` names every format tried."""

    def __init__(self, attempts: Sequence[tuple[str, DecodeError]], primary: str) -> None:
        reasons = dict(attempts)
        main = reasons[primary]
        super().__init__(f"{primary}: {main.reason}", main.offset)
        self.attempts = tuple(attempts)
        self.tried = tuple(name for name, _ in attempts)

    def summary(self) -> str:
        """One line: where and why, and what was tried."""
        return f"{self.reason} at offset {self.offset} (tried {', '.join(self.tried)})"


def describe(raw: bytes, *, inspect: IlpInspector | None = None) -> Description:
    """Recognise and describe `raw`; `UnrecognisedBytes` (a `DecodeError`) if nothing fits.

    `inspect` adds fields to end-to-end ILP packets (not to peer-protocol ones), also to
    ILP packets carried inside BTP.
    """
    raw = bytes(raw)
    if not raw:
        raise UnrecognisedBytes([("ILP", DecodeError("no bytes", 0))], "ILP")
    first = raw[0]
    attempts: list[tuple[str, DecodeError]] = []
    try:
        return describe_ilp(decode_packet(raw), inspect)
    except DecodeError as exc:
        attempts.append(("ILP", exc))
    try:
        packet = decode_btp(raw)
    except DecodeError as exc:
        attempts.append(("BTP", exc))
    else:
        return Description("btp", BTP_TYPE_NAMES[packet.TYPE], btp_fields(packet, inspect), packet)
    bare = _describe_bare_payload(raw)
    if bare is not None:
        return bare
    attempts.append(("bare CCP/ILDCP payload", DecodeError("no exact match", 0)))
    if first in ILP_TYPE_NAMES:
        attempts[0] = (ILP_TYPE_NAMES[first], attempts[0][1])
        primary = ILP_TYPE_NAMES[first]
    elif first in BTP_TYPE_NAMES:
        attempts[1] = (BTP_TYPE_NAMES[first], attempts[1][1])
        primary = BTP_TYPE_NAMES[first]
    else:
        reason = (
            f"first byte {first} (0x{first:02x}) is neither an ILP packet type (12-14) "
            "nor a BTP packet type (1-7)"
        )
        attempts[0] = ("ILP", DecodeError(reason, 0))
        primary = "ILP"
    raise UnrecognisedBytes(attempts, primary)


_BARE_PAYLOADS: Final = (
    (RouteUpdateRequest, "ccp_route_update_payload", "CCP route update", PEER_ROUTE_UPDATE),
    (RouteControlRequest, "ccp_route_control_payload", "CCP route control", PEER_ROUTE_CONTROL),
    (IldcpResponse, "ildcp_response_payload", "ILDCP response", None),
)


def _describe_bare_payload(raw: bytes) -> Description | None:
    """Bytes that are exactly (canonically, with nothing left over) the data of a CCP
    Prepare or of an ILDCP Fulfill: what someone copies out of a packet's `data`."""
    for codec, kind, what, destination in _BARE_PAYLOADS:
        try:
            payload = codec.decode(raw)
            if payload.encode() != raw:
                continue
        except (DecodeError, InvalidValueError):
            continue
        carrier = f"a Prepare to {destination}" if destination else "an ILDCP Fulfill"
        key = "ildcp" if codec is IldcpResponse else "ccp"
        fields: JsonObject = {key: payload_fields(payload)}
        note = (
            f"not an ILP or BTP packet; read as the bare data of {carrier} "
            "because it re-encodes to exactly these bytes"
        )
        return Description(kind, f"{what} payload (data of {carrier})", fields, payload, (note,))
    return None


def describe_ilp(packet: IlpPacket, inspect: IlpInspector | None = None) -> Description:
    """Describe a decoded ILP packet, recognising ILDCP and CCP in it."""
    if isinstance(packet, Prepare):
        return _describe_prepare(packet, inspect)
    if isinstance(packet, Fulfill):
        return _describe_fulfill(packet, inspect)
    fields = reject_fields(packet)
    if inspect is not None:
        fields.update(inspect(packet))
    return Description("ilp_reject", "ILP Reject", fields, packet)


def _reason(exc: DecodeError | InvalidValueError) -> str:
    if isinstance(exc, DecodeError):
        return f"{exc.reason} at data offset {exc.offset}"
    return exc.message


def _describe_prepare(p: Prepare, inspect: IlpInspector | None) -> Description:
    fields = prepare_fields(p)
    destination = p.destination
    if destination == PEER_CONFIG:
        try:
            IldcpRequest.from_prepare(p)
        except DecodeError as exc:
            note = f"sent to {PEER_CONFIG} but not a valid ILDCP request: {exc.reason}"
            return Description("ilp_prepare", "ILP Prepare", fields, p, (note,))
        return Description(
            "ildcp_request",
            f"ILDCP request (ILP Prepare to {PEER_CONFIG})",
            fields,
            p,
            (f"an ILP Prepare to {PEER_CONFIG} with the peer-protocol condition",),
        )
    if destination in (PEER_ROUTE_CONTROL, PEER_ROUTE_UPDATE):
        try:
            request = ccp_request_from_prepare(p)
        except (DecodeError, InvalidValueError) as exc:
            note = f"sent to {destination} but not a valid CCP message: {_reason(exc)}"
            return Description("ilp_prepare", "ILP Prepare", fields, p, (note,))
        fields["ccp"] = payload_fields(request)
        if isinstance(request, RouteControlRequest):
            kind, what = "ccp_route_control", "CCP route control"
        else:
            assert isinstance(request, RouteUpdateRequest)
            kind, what = "ccp_route_update", "CCP route update"
        return Description(kind, f"{what} (ILP Prepare to {destination})", fields, p)
    notes: tuple[str, ...] = ()
    if destination.startswith("peer."):
        notes = (f"a peer-protocol Prepare ({destination}); its data is not decoded",)
    elif p.execution_condition == PEER_PROTOCOL_CONDITION:
        notes = ("condition is the peer-protocol one (SHA-256 of 32 zero bytes)",)
    if inspect is not None and not destination.startswith("peer."):
        fields.update(inspect(p))
    return Description("ilp_prepare", "ILP Prepare", fields, p, notes)


def _describe_fulfill(f: Fulfill, inspect: IlpInspector | None) -> Description:
    fields = fulfill_fields(f)
    if f.fulfillment != PEER_PROTOCOL_FULFILLMENT:
        if inspect is not None:
            fields.update(inspect(f))
        return Description("ilp_fulfill", "ILP Fulfill", fields, f)
    if not f.data:
        note = "zero fulfillment and no data: the answer to a peer-protocol request (e.g. CCP)"
        return Description("ilp_fulfill", "ILP Fulfill", fields, f, (note,))
    try:
        response = IldcpResponse.decode(f.data)
    except (DecodeError, InvalidValueError) as exc:
        note = f"zero fulfillment, but the data is not an ILDCP response: {_reason(exc)}"
        return Description("ilp_fulfill", "ILP Fulfill", fields, f, (note,))
    fields["ildcp"] = payload_fields(response)
    return Description(
        "ildcp_response",
        "ILDCP response (ILP Fulfill)",
        fields,
        f,
        ("zero fulfillment whose data parses as an ILDCP response",),
    )
