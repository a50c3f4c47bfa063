"""One STREAM connection (spec 07), either role, without I/O.

The receiving half turns an incoming ILP Prepare into the Fulfill or Reject to answer
(`handle_prepare`, spec §9). The sending half builds Prepares (`build_prepare`) and reads
the other side's answers (`handle_reply`, §9.2). What happened to the application (money
or data arrived, a stream or the connection closed) is queued as events the asyncio
drivers (`client.py`, `server.py`) drain with `drain_events()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum

from ilpnet.app.stream.errors import StreamStateError
from ilpnet.crypto.condition import condition_of, random_condition
from ilpnet.crypto.stream_keys import StreamCrypto, StreamDecryptError
from ilpnet.wire.errors import ErrorCode, InvalidValueError
from ilpnet.wire.oer import UINT64_MAX
from ilpnet.wire.packet import Fulfill, Prepare, Reject
from ilpnet.wire.stream import (
    ConnectionAssetDetails,
    ConnectionClose,
    ConnectionDataBlocked,
    ConnectionMaxData,
    ConnectionMaxStreamId,
    ConnectionNewAddress,
    ConnectionStreamIdBlocked,
    Frame,
    IlpPacketType,
    StreamClose,
    StreamData,
    StreamDataBlocked,
    StreamErrorCode,
    StreamMaxData,
    StreamMaxMoney,
    StreamMoney,
    StreamMoneyBlocked,
    StreamPacket,
    StreamReceipt,
)

UNLIMITED = UINT64_MAX
"""`receive_max` meaning "no limit" (§6.2)."""
DEFAULT_MAX_STREAM_ID = 20
"""Highest stream id a side accepts until it advertises more (§10)."""
CONNECTION_BUFFER = 65534
"""Bytes of incoming stream data a connection buffers (§10, ref impl)."""
STREAM_BUFFER = 32767
"""Bytes of incoming data one stream buffers beyond what the application has read."""
MAX_SEQUENCE = 2**31 - 1
"""A side must close the connection before sending more Prepares than this (§4)."""


class Role(Enum):
    """Which end of the connection this is; it decides the parity of stream ids we open."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class AssetDetails:
    """An endpoint's asset: code (e.g. "USD") and scale (decimal places of a unit)."""

    code: str
    scale: int

    def format(self, amount: int) -> str:
        """An amount in smallest units as the asset's decimal, e.g. 1234 → "12.34 USD"."""
        sign = "-" if amount < 0 else ""
        whole, frac = divmod(abs(amount), 10**self.scale)
        digits = f".{frac:0{self.scale}d}" if self.scale else ""
        return f"{sign}{whole}{digits} {self.code}"

    def to_smallest_units(self, amount: Decimal) -> int:
        """Whole-asset `amount` in smallest units; more decimals than the scale is an error."""
        units = amount.scaleb(self.scale)
        if units != units.to_integral_value():
            raise InvalidValueError(
                f"{amount} {self.code} has more decimals than the asset's scale {self.scale}"
            )
        return int(units)


# ---- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The other side opened a stream."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class MoneyReceived:
    """A fulfilled Prepare gave `amount` (our units) to a stream."""

    stream_id: int
    amount: int
    stream_total: int
    connection_total: int


@dataclass(frozen=True, slots=True)
class DataReceived:
    """New in-order bytes are readable on a stream (`StreamConnection.read`)."""

    stream_id: int
    readable: int


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """A stream ended; `by_remote` says which side closed it."""

    stream_id: int
    error_code: int
    message: str
    by_remote: bool


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection ended; `by_remote` says which side closed it."""

    error_code: int
    message: str
    by_remote: bool


ConnectionEvent = StreamOpened | MoneyReceived | DataReceived | StreamClosed | ConnectionClosed


# ---- streams ----------------------------------------------------------------------------


@dataclass(slots=True)
class StreamState:
    """Money and data state of one stream, from this side's point of view."""

    stream_id: int
    receive_max: int = 0
    """Most we accept on this stream in total (our units)."""
    total_received: int = 0
    remote_receive_max: int | None = None
    """Most the other side accepts in total (its units), once it said so."""
    remote_total_received: int = 0
    total_sent: int = 0
    """Source amount of fulfilled Prepares that carried money for this stream."""
    # incoming data
    max_data_in: int = STREAM_BUFFER
    read_offset: int = 0
    fragments: dict[int, bytes] = field(default_factory=dict)
    contiguous_end: int = 0
    # outgoing data
    outgoing: bytearray = field(default_factory=bytearray)
    """Bytes written but not yet acknowledged; `outgoing[0]` is at `acked_offset`."""
    acked_offset: int = 0
    remote_max_data: int = STREAM_BUFFER
    # closing
    closed: bool = False
    close_sent: bool = False
    remote_closed: bool = False
    error_code: int = StreamErrorCode.NO_ERROR
    error_message: str = ""

    @property
    def readable(self) -> int:
        return self.contiguous_end - self.read_offset

    @property
    def unsent_data(self) -> int:
        return len(self.outgoing)


@dataclass(frozen=True, slots=True)
class OutgoingPrepare:
    """A Prepare built by `build_prepare`, with what its answer is checked against."""

    sequence: int
    prepare: Prepare
    min_amount: int
    fulfillable: bool
    money_streams: tuple[int, ...] = ()
    data_frames: tuple[StreamData, ...] = ()
    closes: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What the answer to one of our Prepares says.

    `packet` is the authenticated STREAM packet in the answer (None when the answer came
    from a connector, or was not a valid response to this Prepare); `arrived` is the amount
    the receiver says reached it.
    """

    fulfilled: bool
    reject: Reject | None
    packet: StreamPacket | None

    @property
    def arrived(self) -> int | None:
        return None if self.packet is None else self.packet.prepare_amount


class StreamConnection:
    """State of one STREAM connection (shared secret), for both the sending and the
    receiving half. No I/O: the drivers feed it Prepares and replies."""

    def __init__(
        self,
        *,
        role: Role,
        shared_secret: bytes,
        own_address: str | None,
        asset: AssetDetails | None = None,
        remote_address: str | None = None,
        default_receive_max: int = 0,
        max_stream_id: int = DEFAULT_MAX_STREAM_ID,
        connection_tag: str | None = None,
    ) -> None:
        self.role = role
        self.crypto = StreamCrypto(shared_secret)
        self.own_address = own_address
        self.asset = asset
        self.remote_address = remote_address
        self.remote_asset: AssetDetails | None = None
        self.default_receive_max = default_receive_max
        self.max_stream_id = max_stream_id
        self.remote_max_stream_id = DEFAULT_MAX_STREAM_ID
        self.connection_tag = connection_tag
        self.max_data = CONNECTION_BUFFER
        self.remote_max_data = CONNECTION_BUFFER
        self.streams: dict[int, StreamState] = {}
        self.closed_stream_ids: set[int] = set()
        self.next_sequence = 1
        self.next_stream_id = 1 if role is Role.CLIENT else 2
        self.remote_acknowledged = False
        """Whether the other side has answered one of our Prepares with STREAM data."""
        self.total_received = 0
        self.total_read = 0
        self.total_sent = 0
        self.total_delivered = 0
        self.closed = False
        self.close_code: int = StreamErrorCode.NO_ERROR
        self.close_message = ""
        self.closed_by_remote = False
        self._queued: list[Frame] = []
        self._events: list[ConnectionEvent] = []

    # ---- application side -------------------------------------------------------------

    def is_closed(self) -> bool:
        return self.closed

    def drain_events(self) -> list[ConnectionEvent]:
        events, self._events = self._events, []
        return events

    def open_stream(self, receive_max: int | None = None) -> StreamState:
        """Open a stream with the next free id of our parity."""
        if self.closed:
            raise StreamStateError("the connection is closed")
        stream_id = self.next_stream_id
        if stream_id > self.remote_max_stream_id:
            raise StreamStateError(
                f"stream id {stream_id} is above the peer's limit {self.remote_max_stream_id}"
            )
        self.next_stream_id += 2
        state = StreamState(
            stream_id, receive_max=self.default_receive_max if receive_max is None else receive_max
        )
        self.streams[stream_id] = state
        return state

    def stream(self, stream_id: int) -> StreamState:
        state = self.streams.get(stream_id)
        if state is None:
            raise StreamStateError(f"no open stream {stream_id}")
        return state

    def set_receive_max(self, stream_id: int, receive_max: int) -> None:
        """Raise how much we accept on a stream (limits only grow, §10)."""
        state = self.stream(stream_id)
        state.receive_max = max(state.receive_max, min(receive_max, UNLIMITED))

    def write(self, stream_id: int, data: bytes) -> None:
        """Queue bytes to send on a stream; the driver sends them as StreamData frames."""
        state = self.stream(stream_id)
        if state.closed:
            raise StreamStateError(f"stream {stream_id} is closed")
        state.outgoing += data

    def read(self, stream_id: int) -> bytes:
        """In-order bytes received on a stream and not read before."""
        state = self.streams.get(stream_id)
        if state is None:
            return b""
        out = bytearray()
        while state.read_offset in state.fragments:
            chunk = state.fragments.pop(state.read_offset)
            out += chunk
            state.read_offset += len(chunk)
        self.total_read += len(out)
        return bytes(out)

    def close_stream(
        self, stream_id: int, code: int = StreamErrorCode.NO_ERROR, message: str = ""
    ) -> None:
        """Close a stream on our side; the StreamClose goes out with the next packet."""
        state = self.streams.get(stream_id)
        if state is None or state.closed:
            return
        self._close_stream(state, code, message, by_remote=False)

    def close(self, code: int = StreamErrorCode.NO_ERROR, message: str = "") -> None:
        """Close the connection on our side; ConnectionClose goes out with the next packet
        we send or answer."""
        if self.closed:
            return
        self.closed = True
        self.close_code, self.close_message = code, message
        self._events.append(ConnectionClosed(code, message, by_remote=False))

    # ---- receiving half (spec §9) -----------------------------------------------------

    def handle_prepare(self, prepare: Prepare) -> Fulfill | Reject:
        """Answer a Prepare sent to this connection."""
        triggered_by = self.own_address or ""
        try:
            packet = self.crypto.open(prepare.data)
        except StreamDecryptError:
            return Reject(ErrorCode.F06_UNEXPECTED_PAYMENT, triggered_by, "", b"")
        if packet.ilp_packet_type != IlpPacketType.PREPARE:
            return Reject(ErrorCode.F06_UNEXPECTED_PAYMENT, triggered_by, "", b"")

        response: list[Frame] = [ConnectionMaxData(self.total_read + CONNECTION_BUFFER)]
        if self.closed:
            return self._reject(prepare, packet, [*response, self._close_frame()])
        refuse = False
        touched: dict[int, StreamState] = {}
        for frame in packet.frames:
            if isinstance(frame, StreamMoney | StreamData | StreamMaxMoney | StreamMaxData):
                state, problem = self._stream_for(frame.stream_id, frame)
                if problem is not None:
                    response.append(problem)
                    refuse = True
                if state is not None:
                    touched[state.stream_id] = state
            elif isinstance(frame, StreamClose) and frame.stream_id in self.streams:
                touched[frame.stream_id] = self.streams[frame.stream_id]
        if not self.is_closed():
            for frame in packet.frames:
                self._apply_control(frame)
        if not self.is_closed():
            self._check_data_limits(packet, touched)
        if self.is_closed():  # a stream-id or flow-control problem, or the peer closed
            return self._reject(prepare, packet, [*response, self._close_frame()])
        response.extend(self._take_queued())

        if refuse or packet.prepare_amount > prepare.amount:
            return self._reject(prepare, packet, response, touched, closes=True)
        fulfillment = self.crypto.fulfillment(prepare.data)
        if condition_of(fulfillment) != prepare.execution_condition:  # e.g. a rate probe
            return self._reject(prepare, packet, response, touched, closes=True)

        # split the money (§9.3); the remainder counts only in the connection total
        shares = [f for f in packet.frames if isinstance(f, StreamMoney)]
        total_shares = sum(f.shares for f in shares)
        amount = prepare.amount
        if amount > 0 and total_shares == 0:
            return self._reject(prepare, packet, response, touched, closes=True)
        split: list[tuple[StreamState, int]] = []
        for frame in shares:
            state = touched[frame.stream_id]
            part = amount * frame.shares // total_shares
            if state.total_received + part > state.receive_max:
                return self._reject(prepare, packet, response, touched, closes=True)
            split.append((state, part))

        self.total_received += amount
        for state, part in split:
            state.total_received += part
            if part:
                self._events.append(
                    MoneyReceived(state.stream_id, part, state.total_received, self.total_received)
                )
        for frame in packet.frames:
            if isinstance(frame, StreamData) and frame.stream_id in touched:
                self._accept_data(touched[frame.stream_id], frame)
        self._apply_stream_closes(packet)
        response.extend(self._limits_of(touched.values()))
        reply = StreamPacket(
            IlpPacketType.FULFILL, packet.sequence, prepare.amount, tuple(response)
        )
        return Fulfill(fulfillment, self.crypto.seal(reply))

    def _check_data_limits(self, packet: StreamPacket, touched: dict[int, StreamState]) -> None:
        """Close with FlowControlError if the packet's data goes past what we advertised."""
        incoming = 0
        for frame in packet.frames:
            if not isinstance(frame, StreamData) or frame.stream_id not in touched:
                continue
            state = touched[frame.stream_id]
            end = frame.offset + len(frame.data)
            if end > state.read_offset + state.max_data_in:
                limit = state.read_offset + state.max_data_in
                self.close(
                    StreamErrorCode.FLOW_CONTROL_ERROR,
                    f"stream {state.stream_id} data past offset {limit}",
                )
                return
            if end > state.contiguous_end:
                incoming += end - max(frame.offset, state.contiguous_end)
        buffered = sum(s.contiguous_end - s.read_offset for s in self.streams.values())
        if buffered + incoming > CONNECTION_BUFFER:
            self.close(StreamErrorCode.FLOW_CONTROL_ERROR, "connection data buffer exceeded")

    def _apply_stream_closes(self, packet: StreamPacket) -> None:
        for frame in packet.frames:
            if isinstance(frame, StreamClose):
                self._remote_closed_stream(frame)

    def _reject(
        self,
        prepare: Prepare,
        packet: StreamPacket,
        frames: list[Frame],
        touched: dict[int, StreamState] | None = None,
        *,
        closes: bool = False,
    ) -> Reject:
        if closes:
            self._apply_stream_closes(packet)
        if touched:
            frames = [*frames, *self._limits_of(touched.values())]
        reply = StreamPacket(IlpPacketType.REJECT, packet.sequence, prepare.amount, tuple(frames))
        return Reject(
            ErrorCode.F99_APPLICATION_ERROR,
            self.own_address or "",
            "",
            self.crypto.seal(reply),
        )

    def _close_frame(self) -> ConnectionClose:
        return ConnectionClose(self.close_code, self.close_message)

    def _stream_for(self, stream_id: int, frame: Frame) -> tuple[StreamState | None, Frame | None]:
        """The stream a frame is about, opening it if the peer may; else the frame to answer."""
        state = self.streams.get(stream_id)
        carries = isinstance(frame, StreamMoney | StreamData)
        if state is not None:
            if state.closed and carries:
                if not state.close_sent:  # the first answer says why we closed it
                    state.close_sent = True
                    return state, StreamClose(stream_id, state.error_code, state.error_message)
                return state, StreamClose(stream_id, StreamErrorCode.STREAM_STATE_ERROR, "closed")
            return state, None
        if stream_id in self.closed_stream_ids:
            if carries:
                return None, StreamClose(
                    stream_id, StreamErrorCode.STREAM_STATE_ERROR, "stream is closed"
                )
            return None, None
        remote_parity = 0 if self.role is Role.CLIENT else 1
        if stream_id % 2 != remote_parity or stream_id == 0:
            self.close(StreamErrorCode.PROTOCOL_VIOLATION, f"stream id {stream_id} has our parity")
            return None, None
        if stream_id > self.max_stream_id:
            self.close(StreamErrorCode.STREAM_ID_ERROR, f"stream id {stream_id} over the limit")
            return None, None
        state = StreamState(stream_id, receive_max=self.default_receive_max)
        self.streams[stream_id] = state
        self._events.append(StreamOpened(stream_id))
        return state, None

    def _limits_of(self, states: Iterable[StreamState]) -> list[Frame]:
        out: list[Frame] = []
        for state in states:
            if state.closed:
                if not state.close_sent:
                    out.append(StreamClose(state.stream_id, state.error_code, state.error_message))
                    state.close_sent = True
                continue
            out.append(self._max_money(state))
            out.append(StreamMaxData(state.stream_id, state.read_offset + state.max_data_in))
        return out

    @staticmethod
    def _max_money(state: StreamState) -> StreamMaxMoney:
        return StreamMaxMoney(state.stream_id, state.receive_max, state.total_received)

    def _accept_data(self, state: StreamState, frame: StreamData) -> None:
        if not frame.data or frame.offset + len(frame.data) <= state.read_offset:
            return
        if frame.offset in state.fragments or frame.offset < state.contiguous_end:
            return  # a retransmission of bytes we have
        state.fragments[frame.offset] = frame.data
        before = state.contiguous_end
        end = state.contiguous_end
        while end in state.fragments:
            end += len(state.fragments[end])
        state.contiguous_end = end
        if end > before:
            self._events.append(DataReceived(state.stream_id, state.readable))

    # ---- control frames, in Prepares and in replies -------------------------------------

    def _apply_control(self, frame: Frame) -> None:
        match frame:
            case ConnectionClose(code, message):
                if not self.closed:
                    self.closed = True
                    self.closed_by_remote = True
                    self.close_code, self.close_message = code, message
                    self._events.append(ConnectionClosed(code, message, by_remote=True))
            case ConnectionNewAddress(address):
                self.remote_address = address
                if self.role is Role.SERVER:
                    self._queue(ConnectionMaxStreamId(self.max_stream_id))
                    if self.asset is not None:
                        self._queue(ConnectionAssetDetails(self.asset.code, self.asset.scale))
            case ConnectionAssetDetails(code, scale):
                if self.remote_asset is None:
                    self.remote_asset = AssetDetails(code, scale)
                    if self.role is Role.SERVER and self.asset is not None:
                        self._queue(ConnectionAssetDetails(self.asset.code, self.asset.scale))
            case ConnectionMaxData(max_offset):
                self.remote_max_data = max(self.remote_max_data, max_offset)
            case ConnectionMaxStreamId(max_stream_id):
                self.remote_max_stream_id = max(self.remote_max_stream_id, max_stream_id)
            case StreamMaxMoney(stream_id, receive_max, total_received):
                state = self.streams.get(stream_id)
                if state is not None:
                    if state.remote_receive_max is None or receive_max > state.remote_receive_max:
                        state.remote_receive_max = receive_max
                    state.remote_total_received = max(state.remote_total_received, total_received)
            case StreamMaxData(stream_id, max_offset):
                state = self.streams.get(stream_id)
                if state is not None:
                    state.remote_max_data = max(state.remote_max_data, max_offset)
            case (
                ConnectionDataBlocked()
                | ConnectionStreamIdBlocked()
                | StreamMoneyBlocked()
                | StreamDataBlocked()
                | StreamReceipt()
                | StreamMoney()
                | StreamData()
                | StreamClose()
            ):
                pass  # diagnostics, or handled with the money and data

    def _remote_closed_stream(self, frame: StreamClose) -> None:
        state = self.streams.get(frame.stream_id)
        if state is None or state.remote_closed:
            return
        state.remote_closed = True
        if not state.closed:
            self._close_stream(state, frame.error_code, frame.error_message, by_remote=True)
            state.close_sent = False  # answer with our own StreamClose

    def _close_stream(self, state: StreamState, code: int, message: str, by_remote: bool) -> None:
        state.closed = True
        state.error_code, state.error_message = code, message
        self.closed_stream_ids.add(state.stream_id)
        self._events.append(StreamClosed(state.stream_id, code, message, by_remote))

    def _queue(self, frame: Frame) -> None:
        if frame not in self._queued:
            self._queued.append(frame)

    def _take_queued(self) -> list[Frame]:
        frames, self._queued = self._queued, []
        return frames

    # ---- sending half -----------------------------------------------------------------

    def build_prepare(
        self,
        *,
        amount: int,
        min_amount: int,
        expires_at: datetime,
        frames: Sequence[Frame] = (),
        fulfillable: bool = True,
        money_streams: tuple[int, ...] = (),
    ) -> OutgoingPrepare:
        """A Prepare to the other side carrying `frames`, plus connection frames due now.

        Until the other side has answered, the client's Prepares also carry its address
        and asset details (§10). An unfulfillable Prepare gets a random condition.
        """
        if self.remote_address is None:
            raise StreamStateError("the other side's ILP address is not known")
        sequence = self.next_sequence
        if sequence > MAX_SEQUENCE:
            raise StreamStateError("the connection has sent 2^31 packets; it must be closed")
        self.next_sequence += 1
        out: list[Frame] = []
        if not self.remote_acknowledged and self.role is Role.CLIENT:
            if self.own_address is not None:
                out.append(ConnectionNewAddress(self.own_address))
            if self.asset is not None:
                out.append(ConnectionAssetDetails(self.asset.code, self.asset.scale))
        if self.closed:
            out.append(self._close_frame())
        closes = self._pending_stream_closes()
        out.extend(closes)
        out.extend(frames)
        data = self.crypto.seal(
            StreamPacket(IlpPacketType.PREPARE, sequence, min_amount, tuple(out))
        )
        condition = self.crypto.condition(data) if fulfillable else random_condition()
        prepare = Prepare(amount, expires_at, condition, self.remote_address, data)
        data_frames = tuple(f for f in frames if isinstance(f, StreamData))
        return OutgoingPrepare(
            sequence,
            prepare,
            min_amount,
            fulfillable,
            money_streams,
            data_frames,
            tuple(f.stream_id for f in closes),
        )

    def _pending_stream_closes(self) -> list[StreamClose]:
        out: list[StreamClose] = []
        for state in self.streams.values():
            if state.closed and not state.close_sent:
                out.append(StreamClose(state.stream_id, state.error_code, state.error_message))
        return out

    def handle_reply(self, sent: OutgoingPrepare, reply: Fulfill | Reject) -> ReplyOutcome:
        """Read the answer to a Prepare we built; apply its frames (§9.2)."""
        fulfilled = isinstance(reply, Fulfill)
        expected = IlpPacketType.FULFILL if fulfilled else IlpPacketType.REJECT
        packet: StreamPacket | None = None
        if reply.data:
            try:
                candidate = self.crypto.open(reply.data)
            except StreamDecryptError:
                candidate = None
            if (
                candidate is not None
                and candidate.sequence == sent.sequence
                and candidate.ilp_packet_type == expected
            ):
                packet = candidate
        if packet is not None:
            self.remote_acknowledged = True
            for stream_id in sent.closes:
                if stream_id in self.streams:
                    self.streams[stream_id].close_sent = True
            for frame in packet.frames:
                self._apply_control(frame)
            for frame in packet.frames:
                if isinstance(frame, StreamClose):
                    self._remote_closed_stream(frame)
                    closed = self.streams.get(frame.stream_id)
                    if closed is not None:
                        closed.close_sent = True
        if fulfilled:
            self.total_sent += sent.prepare.amount
            if packet is not None:
                self.total_delivered += packet.prepare_amount
            else:
                self.total_delivered += sent.min_amount
            for frame in sent.data_frames:
                self._acknowledge_data(frame)
        reject = reply if isinstance(reply, Reject) else None
        return ReplyOutcome(fulfilled, reject, packet)

    def take_data_frames(self, budget: int) -> list[StreamData]:
        """StreamData frames for bytes written and not yet in flight, within the peer's
        limits and `budget` bytes. Their bytes leave the buffer only when acknowledged."""
        frames: list[StreamData] = []
        budget = min(
            budget, self.remote_max_data - sum(s.acked_offset for s in self.streams.values())
        )
        for state in self.streams.values():
            if budget <= 0:
                break
            if not state.outgoing or state.closed:
                continue
            window = state.remote_max_data - state.acked_offset
            size = min(len(state.outgoing), window, budget)
            if size <= 0:
                continue
            frames.append(
                StreamData(state.stream_id, state.acked_offset, bytes(state.outgoing[:size]))
            )
            budget -= size
        return frames

    def _acknowledge_data(self, frame: StreamData) -> None:
        state = self.streams.get(frame.stream_id)
        if state is None or frame.offset != state.acked_offset:
            return
        del state.outgoing[: len(frame.data)]
        state.acked_offset += len(frame.data)
