"""One BTP connection as a state machine with no I/O: bytes in, events and bytes out.

The asyncio layer (`ilpnet.links.btp`) feeds every WebSocket message to `receive()`,
acts on the events it returns, calls `send_*` / `respond*` to make frames, and writes
whatever `data_to_send()` hands it. A session lives as long as one WebSocket.

States (one table, `_TRANSITIONS`):

    client: AUTHENTICATING --Response to auth--> OPEN
            AUTHENTICATING --Error to auth-----> CLOSED
    server: AWAITING_AUTH --auth Message--> AUTH_PENDING --accept_auth()--> OPEN
                                                         --reject_auth()--> CLOSED
            AWAITING_AUTH --anything else--> CLOSED (Error F00 when it had a requestId)

Rules (spec 04 §3): every request gets one answer with its requestId; a response that
matches none of our outstanding requests is dropped; so is anything unparseable that is
itself a response. An unparseable *request* gets Error F01 (its type byte and requestId
are readable), so a bad frame never kills the connection and never starts a ping-pong.

Hot path: a Message or Response whose only entry is `ilp` (every ILP packet) is built
and read by byte slicing (`ilp_frame`, `read_ilp_frame`); anything else, or any byte
that is not exactly that shape, goes through the full `ilpnet.wire.btp` codec.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from enum import Enum

from ilpnet.clock import Clock
from ilpnet.wire.btp import (
    AUTH,
    ILP,
    MAX_ERROR_DATA,
    AuthRefused,
    BtpErrorCode,
    BtpPacket,
    BtpType,
    Error,
    Message,
    ProtocolData,
    Response,
    Transfer,
    auth_message,
    decode_btp,
    error_for,
    find_ilp,
    read_auth,
)
from ilpnet.wire.errors import DecodeError, IlpError
from ilpnet.wire.oer import UINT32_MAX, encode_length
from ilpnet.wire.packet import Fulfill, Prepare, Reject

_ILP_PREPARE, _ILP_FULFILL, _ILP_REJECT = 12, 13, 14
_REQUEST_ID_SPACE = UINT32_MAX + 1


class Role(Enum):
    CLIENT = "client"
    SERVER = "server"


class SessionState(Enum):
    AUTHENTICATING = "authenticating"  # client: auth sent, no answer yet
    AWAITING_AUTH = "awaiting_auth"  # server: nothing received yet
    AUTH_PENDING = "auth_pending"  # server: auth received, owner deciding
    OPEN = "open"
    CLOSED = "closed"


_TRANSITIONS: dict[tuple[SessionState, str], SessionState] = {
    (SessionState.AUTHENTICATING, "auth_accepted"): SessionState.OPEN,
    (SessionState.AUTHENTICATING, "auth_refused"): SessionState.CLOSED,
    (SessionState.AWAITING_AUTH, "auth_received"): SessionState.AUTH_PENDING,
    (SessionState.AWAITING_AUTH, "auth_refused"): SessionState.CLOSED,
    (SessionState.AUTH_PENDING, "auth_accepted"): SessionState.OPEN,
    (SessionState.AUTH_PENDING, "auth_refused"): SessionState.CLOSED,
}


class SessionStateError(Exception):
    """The owner asked for something the session's state does not allow (a local bug)."""


# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthRequested:
    """Server: the peer presented credentials; answer with `accept_auth`/`reject_auth`."""

    request_id: int
    username: str | None
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthSucceeded:
    """Client: the server accepted our auth Message; the session is open."""


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """Auth did not happen; the session is closed: flush `data_to_send()`, then close."""

    reason: str


@dataclass(frozen=True, slots=True)
class IncomingPrepare:
    """The peer sent an ILP Prepare; answer with `respond_ilp(request_id, ...)`."""

    request_id: int
    prepare: Prepare


@dataclass(frozen=True, slots=True)
class TransferReceived:
    """The peer says it paid us `amount` more; `respond` to accept, `respond_error` not."""

    request_id: int
    amount: int
    protocol_data: tuple[ProtocolData, ...]


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A Message whose primary entry is neither `ilp` nor `auth` (a side protocol)."""

    request_id: int
    protocol_data: tuple[ProtocolData, ...]


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """The answer to one of our requests. For a Prepare, `packet` is the ILP reply and
    `protocol_data` holds the Response's entries besides `ilp` (usually none)."""

    request_id: int
    protocol_data: tuple[ProtocolData, ...]
    packet: Fulfill | Reject | None = None


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """One of our requests got a BTP Error, or an answer we cannot use."""

    request_id: int
    code: str
    name: str
    message: str


@dataclass(frozen=True, slots=True)
class PacketDropped:
    """Something arrived that gets no answer (an unmatched response, unreadable bytes)."""

    reason: str


BtpEvent = (
    AuthRequested
    | AuthSucceeded
    | AuthFailed
    | IncomingPrepare
    | TransferReceived
    | MessageReceived
    | ResponseReceived
    | RequestFailed
    | PacketDropped
)


class _Sent(Enum):
    """What an outstanding request was, to know what its answer must hold."""

    AUTH = "auth"
    ILP = "ilp"
    TRANSFER = "transfer"
    MESSAGE = "message"


# Enum members in module globals: reading `SessionState.OPEN` costs ~60 ns (Python 3.11),
# a global ~10 ns; these are read several times per packet.
_OPEN = SessionState.OPEN
_SENT_ILP = _Sent.ILP
_MESSAGE = BtpType.MESSAGE
_RESPONSE = BtpType.RESPONSE


# ---- the session --------------------------------------------------------------------


class BtpSession:
    """The BTP state of one WebSocket connection, from one side."""

    def __init__(self, role: Role, clock: Clock, *, first_request_id: int | None = None) -> None:
        self.role = role
        self._clock = clock
        self.state = (
            SessionState.AUTHENTICATING if role is Role.CLIENT else SessionState.AWAITING_AUTH
        )
        if first_request_id is None:
            first_request_id = random.randrange(_REQUEST_ID_SPACE)
        if not 0 <= first_request_id <= UINT32_MAX:
            raise ValueError(f"first_request_id must be a uint32, got {first_request_id}")
        self._next_id = first_request_id
        self._outstanding: dict[int, _Sent] = {}
        self._outbox: list[bytes] = []
        self._auth_request_id: int | None = None
        self._client_auth_sent = False

    # -- state --------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state is SessionState.OPEN

    @property
    def outstanding(self) -> int:
        """How many of our requests await an answer."""
        return len(self._outstanding)

    def _move(self, what: str) -> None:
        key = (self.state, what)
        if key not in _TRANSITIONS:
            raise SessionStateError(f"{what} is not allowed in state {self.state.value}")
        self.state = _TRANSITIONS[key]

    @property
    def has_data_to_send(self) -> bool:
        return bool(self._outbox)

    @property
    def queued_frames(self) -> int:
        """How many frames `data_to_send()` would hand out now."""
        return len(self._outbox)

    def data_to_send(self) -> list[bytes]:
        """The frames made since the last call, in order; one WebSocket message each."""
        out, self._outbox = self._outbox, []
        return out

    def _allocate_id(self) -> int:
        if len(self._outstanding) >= _REQUEST_ID_SPACE:
            raise SessionStateError("every requestId is in flight")
        rid = self._next_id
        while rid in self._outstanding:
            rid = (rid + 1) % _REQUEST_ID_SPACE
        self._next_id = (rid + 1) % _REQUEST_ID_SPACE
        return rid

    def _require_open(self, what: str) -> None:
        if self.state is not SessionState.OPEN:
            raise SessionStateError(f"cannot {what} in state {self.state.value}")

    # -- client auth ----------------------------------------------------------------------

    def authenticate(self, token: str, username: str | None = None) -> int:
        """Client: queue the auth Message (first frame on the socket); returns its id."""
        if self.role is not Role.CLIENT or self._client_auth_sent:
            raise SessionStateError("only a client sends auth, once")
        self._client_auth_sent = True
        rid = self._allocate_id()
        self._outstanding[rid] = _Sent.AUTH
        self._outbox.append(auth_message(rid, token, username).encode())
        return rid

    # -- server auth ----------------------------------------------------------------------

    def accept_auth(self) -> None:
        """Server: the credentials name an account; answer the auth Message with Response."""
        if self.role is not Role.SERVER or self._auth_request_id is None:
            raise SessionStateError("no auth request to accept")
        self._move("auth_accepted")
        self._outbox.append(Response(self._auth_request_id).encode())

    def reject_auth(self, reason: str) -> None:
        """Server: refuse the credentials with Error F00; then close the socket."""
        if self.role is not Role.SERVER or self._auth_request_id is None:
            raise SessionStateError("no auth request to reject")
        self._move("auth_refused")
        self._queue_error(self._auth_request_id, BtpErrorCode.F00_NOT_ACCEPTED, reason)

    # -- our requests ----------------------------------------------------------------------

    def send_prepare(self, prepare: Prepare) -> int:
        """Queue a Message carrying `prepare`; returns its requestId."""
        if self.state is not _OPEN:
            self._require_open("send a prepare")
        raw = prepare.encode()
        outstanding = self._outstanding
        rid = self._next_id
        if rid in outstanding:
            rid = self._allocate_id()
        else:  # what `_allocate_id` finds first
            self._next_id = (rid + 1) % _REQUEST_ID_SPACE
        outstanding[rid] = _SENT_ILP
        self._outbox.append(ilp_frame(_MESSAGE, rid, raw))
        return rid

    def send_transfer(self, amount: int, protocol_data: tuple[ProtocolData, ...] = ()) -> int:
        """Queue a Transfer ("I paid you `amount` more"); returns its requestId."""
        self._require_open("send a transfer")
        packet = Transfer(0, amount, protocol_data)  # validates before an id is taken
        rid = self._allocate_id()
        self._outstanding[rid] = _Sent.TRANSFER
        self._outbox.append(Transfer(rid, packet.amount, packet.protocol_data).encode())
        return rid

    def send_message(self, protocol_data: tuple[ProtocolData, ...]) -> int:
        """Queue a Message for a side protocol; returns its requestId."""
        self._require_open("send a message")
        Message(0, protocol_data)
        rid = self._allocate_id()
        self._outstanding[rid] = _Sent.MESSAGE
        self._outbox.append(Message(rid, protocol_data).encode())
        return rid

    def forget(self, request_id: int) -> None:
        """Stop waiting for `request_id` (timed out): a late answer will be dropped."""
        self._outstanding.pop(request_id, None)

    # -- answers to the peer's requests ---------------------------------------------------

    def respond_ilp(self, request_id: int, packet: Fulfill | Reject) -> None:
        """Answer an `IncomingPrepare` with the ILP Fulfill or Reject."""
        self._outbox.append(ilp_frame(_RESPONSE, request_id, packet.encode()))

    def respond(self, request_id: int, protocol_data: tuple[ProtocolData, ...] = ()) -> None:
        """Answer a request with success."""
        self._outbox.append(Response(request_id, protocol_data).encode())

    def respond_error(self, request_id: int, code: BtpErrorCode, message: str) -> None:
        """Answer a request with a BTP Error."""
        self._queue_error(request_id, code, message)

    def _queue_error(self, request_id: int, code: BtpErrorCode, message: str) -> None:
        data = message.encode("utf-8", "replace")[:MAX_ERROR_DATA]
        data = data.decode("utf-8", "ignore").encode("utf-8")  # no character cut in half
        self._outbox.append(error_for(request_id, code, self._clock.now(), data).encode())

    # -- input ----------------------------------------------------------------------------

    def receive(self, raw: bytes) -> list[BtpEvent]:
        """Feed one WebSocket message; returns what happened (frames go to the outbox)."""
        if self.state is SessionState.CLOSED:
            return [PacketDropped("session closed")]
        hot = self.read_hot(raw)
        if hot is not None:
            kind, rid, ilp = hot
            if kind == BtpType.MESSAGE:
                return self._ilp_request(rid, ilp)
            return self._ilp_answer(rid, ilp, ())
        try:
            packet = decode_btp(raw)
        except IlpError as exc:
            return self._unreadable(raw, exc.message)
        if self.state is SessionState.AWAITING_AUTH:
            return self._first_packet(packet)
        if isinstance(packet, Response | Error):
            return self._answer(packet)
        if self.state is not SessionState.OPEN:
            self._queue_error(packet.request_id, BtpErrorCode.F00_NOT_ACCEPTED, "not authenticated")
            return [PacketDropped(f"{packet.TYPE.name} before auth completed")]
        if isinstance(packet, Message):
            return self._message(packet)
        if isinstance(packet, Transfer):
            return [TransferReceived(packet.request_id, packet.amount, packet.protocol_data)]
        self._queue_error(
            packet.request_id,
            BtpErrorCode.F00_NOT_ACCEPTED,
            f"BTP {packet.TYPE.name} (type {int(packet.TYPE)}) is not supported",
        )
        return [PacketDropped(f"legacy BTP {packet.TYPE.name}")]

    def read_hot(self, raw: bytes) -> tuple[int, int, bytes] | None:
        """(type, requestId, ILP bytes) of an ILP Prepare Message, or of the ILP Response to
        one of our ILP requests (which it settles); None for anything else (`receive`)."""
        if self.state is not _OPEN:
            return None
        fast = read_ilp_frame(raw)
        if fast is None:
            return None
        if fast[0] == _MESSAGE:
            ilp = fast[2]
            return fast if ilp and ilp[0] == _ILP_PREPARE else None
        rid = fast[1]
        if self._outstanding.get(rid) is not _SENT_ILP:
            return None
        del self._outstanding[rid]
        return fast

    def _unreadable(self, raw: bytes, reason: str) -> list[BtpEvent]:
        """Answer F01 only when the bytes say they are a request with a readable id."""
        if self.state is SessionState.AWAITING_AUTH:
            self._move("auth_refused")
            if len(raw) >= 5 and raw[0] not in (BtpType.RESPONSE, BtpType.ERROR):
                rid = int.from_bytes(raw[1:5], "big")
                self._queue_error(rid, BtpErrorCode.F00_NOT_ACCEPTED, f"bad auth: {reason}")
            return [AuthFailed(f"unreadable first packet: {reason}")]
        if len(raw) >= 5 and raw[0] not in (BtpType.RESPONSE, BtpType.ERROR):
            rid = int.from_bytes(raw[1:5], "big")
            self._queue_error(rid, BtpErrorCode.F01_INVALID_FIELDS, reason)
            return [PacketDropped(f"invalid request {rid}: {reason}")]
        return [PacketDropped(f"unreadable packet: {reason}")]

    def _first_packet(self, packet: BtpPacket) -> list[BtpEvent]:
        try:
            credentials = read_auth(packet)
        except AuthRefused as exc:
            self._move("auth_refused")
            if not isinstance(packet, Response | Error):
                self._queue_error(packet.request_id, BtpErrorCode.F00_NOT_ACCEPTED, exc.message)
            return [AuthFailed(exc.message)]
        self._move("auth_received")
        self._auth_request_id = packet.request_id
        return [AuthRequested(packet.request_id, credentials.username, credentials.token)]

    def _answer(self, packet: Response | Error) -> list[BtpEvent]:
        rid = packet.request_id
        sent = self._outstanding.pop(rid, None)
        if sent is None:
            return [PacketDropped(f"{packet.TYPE.name} {rid} matches no request of ours")]
        if sent is _Sent.AUTH:
            if isinstance(packet, Response):
                self._move("auth_accepted")
                return [AuthSucceeded()]
            self._move("auth_refused")
            return [AuthFailed(f"{packet.code} {packet.name}: {_error_text(packet)}")]
        if isinstance(packet, Error):
            return [RequestFailed(rid, packet.code, packet.name, _error_text(packet))]
        if sent is not _Sent.ILP:
            return [ResponseReceived(rid, packet.protocol_data)]
        raw = find_ilp(packet)
        if raw is None:
            return [RequestFailed(rid, "F01", "InvalidFieldsError", "response has no ilp entry")]
        others = tuple(e for e in packet.protocol_data if e.protocol_name != ILP)
        return self._ilp_answer(rid, raw, others)

    def _ilp_answer(self, rid: int, raw: bytes, others: tuple[ProtocolData, ...]) -> list[BtpEvent]:
        try:
            reply = _decode_reply(raw)
        except IlpError as exc:
            return [RequestFailed(rid, "F01", "InvalidFieldsError", f"bad ilp reply: {exc}")]
        return [ResponseReceived(rid, others, reply)]

    def _message(self, packet: Message) -> list[BtpEvent]:
        rid = packet.request_id
        primary = packet.protocol_data[0].protocol_name if packet.protocol_data else None
        if primary == ILP:
            return self._ilp_request(rid, packet.protocol_data[0].data)
        if primary == AUTH:
            self._queue_error(rid, BtpErrorCode.F00_NOT_ACCEPTED, "already authenticated")
            return [PacketDropped(f"Message {rid}: auth on an open session")]
        return [MessageReceived(rid, packet.protocol_data)]

    def _ilp_request(self, rid: int, raw: bytes) -> list[BtpEvent]:
        if not raw or raw[0] != _ILP_PREPARE:
            kind = raw[0] if raw else "none"
            self._queue_error(
                rid, BtpErrorCode.F01_INVALID_FIELDS, f"ilp entry must be a Prepare ({kind})"
            )
            return [PacketDropped(f"Message {rid}: ilp entry is not a Prepare")]
        try:
            prepare = Prepare.decode(raw)
        except IlpError as exc:
            self._queue_error(rid, BtpErrorCode.F01_INVALID_FIELDS, exc.message)
            return [PacketDropped(f"Message {rid}: invalid ILP Prepare: {exc.message}")]
        return [IncomingPrepare(rid, prepare)]


# ---- the hot path: a Message or Response whose only entry is `ilp` ----------------------

_ILP_ONLY = b"\x01\x01\x03ilp\x00"  # count 1, name "ilp", octet-stream


_SMALL_FRAME = struct.Struct(">BIB7sB")
"""Type, requestId, content length, `_ILP_ONLY`, ILP length: the head of a frame whose ILP
packet is under 120 bytes (both lengths then take one byte)."""


def ilp_frame(kind: BtpType, request_id: int, ilp: bytes) -> bytes:
    """The bytes of `ilp_message`/`ilp_response(...).encode()`, built without the codec."""
    n = len(ilp)
    if n < 120:
        return _SMALL_FRAME.pack(kind, request_id, n + 8, _ILP_ONLY, n) + ilp
    content = _ILP_ONLY + encode_length(n) + ilp
    return bytes((kind,)) + request_id.to_bytes(4, "big") + encode_length(len(content)) + content


def _canonical_length(raw: bytes, i: int) -> tuple[int, int] | None:
    """(start of the content, its length) of the determinant at `i`, canonical forms only."""
    n = len(raw)
    if i >= n:
        return None
    first = raw[i]
    if first < 0x80:
        return i + 1, first
    size = first & 0x7F
    if not 1 <= size <= 3 or i + 1 + size > n:
        return None
    value = int.from_bytes(raw[i + 1 : i + 1 + size], "big")
    if value < (0x80 if size == 1 else 1 << (8 * (size - 1))):
        return None
    return i + 1 + size, value


def read_ilp_frame(raw: bytes) -> tuple[int, int, bytes] | None:
    """(type, requestId, ILP bytes) when `raw` is, byte for byte, what `ilp_frame` makes
    for a Message or Response; None for anything else (then the full decoder reads it)."""
    n = len(raw)
    if n < 13:
        return None
    kind = raw[0]
    if kind != _MESSAGE and kind != _RESPONSE:
        return None
    first = raw[5]
    if first < 0x80:  # the usual: a content under 128 bytes
        if 6 + first != n:
            return None
        start = 6
    else:
        outer = _canonical_length(raw, 5)
        if outer is None or outer[0] + outer[1] != n:
            return None
        start = outer[0]
    if start + 8 > n or not raw.startswith(_ILP_ONLY, start):
        return None
    first = raw[start + 7]
    if first < 0x80:
        if start + 8 + first != n:
            return None
        ilp = raw[start + 8 :]
    else:
        inner = _canonical_length(raw, start + 7)
        if inner is None or inner[0] + inner[1] != n:
            return None
        ilp = raw[inner[0] :]
    return kind, int.from_bytes(raw[1:5], "big"), ilp if type(ilp) is bytes else bytes(ilp)


def _decode_reply(raw: bytes) -> Fulfill | Reject:
    if raw and raw[0] == _ILP_FULFILL:
        return Fulfill.decode(raw)
    if raw and raw[0] == _ILP_REJECT:
        return Reject.decode(raw)
    kind = raw[0] if raw else "empty"
    raise DecodeError(f"expected an ILP Fulfill or Reject, got type {kind}", 0)


def _error_text(packet: Error) -> str:
    return packet.data.decode("utf-8", errors="replace")
