"""STREAM client: connect over a link, probe the path, and pay (spec 07 §10–11).

    receipt = await pay(link, destination, shared_secret, source_amount=10_000)

`StreamClient` holds one connection: `connect()` sends the first (unfulfillable) packets
with our address and asset, `probe_rate()` measures the path's exchange rate and maximum
packet amount, `payment(...)` returns a `Payment` whose `run()` sends money with a pacer
(several packets in flight, growing on success, shrinking and backing off on T04 and other
temporary errors) until a fixed source or delivery amount is reached; `stop()` ends it
cleanly and the receipt says what was delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from math import ceil, floor

import structlog

from ilpnet.app.stream.connection import (
    AssetDetails,
    OutgoingPrepare,
    ReplyOutcome,
    Role,
    StreamConnection,
    StreamState,
)
from ilpnet.app.stream.errors import (
    ConnectFailedError,
    ExchangeRateError,
    NoProgressError,
    PaymentError,
    PaymentReceipt,
    PaymentRejectedError,
    ReceiverClosedError,
    ReceiverLimitError,
    StreamStateError,
)
from ilpnet.clock import Clock, SystemClock
from ilpnet.links.base import Link
from ilpnet.wire.errors import DecodeError, ErrorClass, ErrorCode, InvalidValueError
from ilpnet.wire.oer import UINT64_MAX
from ilpnet.wire.packet import AmountTooLargeData, Fulfill, Prepare, Reject
from ilpnet.wire.stream import Frame, StreamErrorCode, StreamMoney

log = structlog.get_logger(__name__)

PROBE_AMOUNTS = (1, 10**3, 10**6, 10**9, 10**12)
"""Source amounts of the first round of rate probes (§11.1)."""
PROBE_ROUNDS = 15
MIN_RATE_PRECISION = 100
"""A probe must deliver at least this much (3 significant digits) to fix the rate."""
DEFAULT_SLIPPAGE = Fraction(1, 100)
PREPARE_EXPIRY_S = 30.0
IDLE_TIMEOUT_S = 60.0
MAX_IN_FLIGHT = 20
INITIAL_WINDOW = 4
BACKOFF_START_S = 0.1
BACKOFF_MAX_S = 5.0
MAX_DATA_PER_PACKET = 30_000
"""Stream bytes per packet: ILP data is at most 32 767 bytes, minus envelope and frames."""
RATE_FAILURES_ALLOWED = 3
"""Consecutive packets arriving under the minimum before the payment gives up."""


@dataclass(frozen=True, slots=True)
class _Sent:
    out: OutgoingPrepare
    amount: int
    expected: int
    """Destination amount expected to arrive, at the probed rate."""
    launched_at: float


def _rate_probe(arrived: dict[int, int]) -> tuple[int, int] | None:
    """The (sent, delivered) pair to take the path's rate from.

    The smallest probe that still delivered enough units for a precise rate: on a path
    whose price moves with the amount (a connector pricing by a constant-product pool),
    that is the one closest to the size of the packets that will carry the money, while a
    huge probe would report a rate far worse than the payment gets. Without such a probe,
    the one that delivered the most.
    """
    precise = [kv for kv in arrived.items() if kv[1] >= MIN_RATE_PRECISION]
    if precise:
        return min(precise)
    return max(arrived.items(), key=lambda kv: (kv[1], kv[0]), default=None)


class StreamClient:
    """The client end of one STREAM connection, sending over `link`."""

    def __init__(
        self,
        link: Link,
        *,
        destination: str,
        shared_secret: bytes,
        own_address: str | None = None,
        asset: AssetDetails | None = None,
        clock: Clock | None = None,
        expiry: float = PREPARE_EXPIRY_S,
    ) -> None:
        self.link = link
        self.clock: Clock = clock or SystemClock()
        self.expiry = timedelta(seconds=expiry)
        self.connection = StreamConnection(
            role=Role.CLIENT,
            shared_secret=shared_secret,
            own_address=own_address,
            asset=asset,
            remote_address=destination,
        )
        self.rate: Fraction | None = None
        self.max_packet_amount: int | None = None
        self.packets_rejected = 0

    @classmethod
    def over(
        cls,
        link: Link,
        connection: StreamConnection,
        *,
        clock: Clock | None = None,
        expiry: float = PREPARE_EXPIRY_S,
    ) -> StreamClient:
        """A sender for an existing connection of either role (e.g. a server sending data
        or money back to a client that told it its address)."""
        if connection.remote_address is None:
            raise StreamStateError("the other side has not told us its ILP address")
        sender = cls.__new__(cls)
        sender.link = link
        sender.clock = clock or SystemClock()
        sender.expiry = timedelta(seconds=expiry)
        sender.connection = connection
        sender.rate = None
        sender.max_packet_amount = None
        sender.packets_rejected = 0
        return sender

    async def handle_incoming(self, prepare: Prepare) -> Fulfill | Reject:
        """Answer Prepares the other side sends to our address (register it as the link's
        handler): its probes get proper F99 answers; money to us is refused unless a
        stream's receive limit is raised."""
        own = self.connection.own_address
        if own is None or not (
            prepare.destination == own or prepare.destination.startswith(own + ".")
        ):
            return Reject(
                ErrorCode.F02_UNREACHABLE, own or "", f"no route to {prepare.destination}", b""
            )
        return self.connection.handle_prepare(prepare)

    # ---- sending one packet ---------------------------------------------------------------

    async def send_packet(
        self,
        *,
        amount: int,
        min_amount: int = 0,
        frames: tuple[Frame, ...] = (),
        fulfillable: bool = True,
    ) -> ReplyOutcome:
        """Build, send and read the answer of one Prepare."""
        out = self.connection.build_prepare(
            amount=amount,
            min_amount=min_amount,
            expires_at=self.clock.now() + self.expiry,
            frames=frames,
            fulfillable=fulfillable,
        )
        return await self._send(out)

    async def _send(self, out: OutgoingPrepare) -> ReplyOutcome:
        reply = await self.link.send(out.prepare)
        return self.connection.handle_reply(out, reply)

    def learn_max_packet(self, amount_sent: int, reject: Reject) -> int:
        """Update the path's maximum packet amount from an F08 (§11.3)."""
        try:
            data = AmountTooLargeData.decode(reject.data)
            if data.received_amount == 0 or data.maximum_amount >= data.received_amount:
                raise ValueError("inconsistent F08 data")
            new_max = amount_sent * data.maximum_amount // data.received_amount
        except (DecodeError, ValueError):
            new_max = amount_sent - 1
        if self.max_packet_amount is None or new_max < self.max_packet_amount:
            self.max_packet_amount = new_max
        return self.max_packet_amount

    def receipt(self, *, complete: bool = False, seconds: float = 0.0) -> PaymentReceipt:
        c = self.connection
        remote = c.remote_asset
        return PaymentReceipt(
            sent=c.total_sent,
            delivered=c.total_delivered,
            packets=0,
            rejected_packets=self.packets_rejected,
            rate=self.rate,
            seconds=seconds,
            complete=complete,
            source_code=c.asset.code if c.asset else None,
            source_scale=c.asset.scale if c.asset else None,
            destination_code=remote.code if remote else None,
            destination_scale=remote.scale if remote else None,
        )

    # ---- connecting and probing -----------------------------------------------------------

    async def probe_rate(self) -> Fraction:
        """Measure the path rate with unfulfillable Prepares (§11.1); also learns the
        receiver's asset details and the path's maximum packet amount."""
        amounts = set(PROBE_AMOUNTS)
        arrived: dict[int, int] = {}
        too_small = 0
        delay = BACKOFF_START_S
        for _ in range(PROBE_ROUNDS):
            sent = sorted(amounts)
            outcomes = await asyncio.gather(
                *(self.send_packet(amount=a, fulfillable=False) for a in sent)
            )
            retry: set[int] = set()
            temporary = False
            for amount, outcome in zip(sent, outcomes, strict=True):
                if outcome.reject is not None and (
                    outcome.reject.code == ErrorCode.R01_INSUFFICIENT_SOURCE_AMOUNT
                ):
                    # A hop rounded this probe down to nothing: too small, not a dead path.
                    # The larger probes of the same round measure the rate.
                    too_small += 1
                    continue
                if outcome.packet is not None:
                    arrived[amount] = outcome.packet.prepare_amount
                    self._raise_if_closed()
                    continue
                reject = outcome.reject
                assert reject is not None  # an unfulfillable Prepare is never fulfilled
                if reject.code == ErrorCode.F08_AMOUNT_TOO_LARGE:
                    limit = self.learn_max_packet(amount, reject)
                    if limit <= 0:
                        raise PaymentRejectedError(
                            ErrorCode.F08_AMOUNT_TOO_LARGE,
                            "the path cannot carry any money (maximum packet amount 0)",
                            self.receipt(),
                        )
                    retry.add(limit)
                elif reject.error_class is ErrorClass.TEMPORARY:
                    temporary = True
                    if amount > 1:
                        retry.add(amount - amount // 3)
                else:
                    raise ConnectFailedError(
                        _code(reject.code),
                        f"cannot reach the receiver: {_describe(reject)}",
                        self.receipt(),
                    )
            best = max(arrived.items(), key=lambda kv: (kv[1], kv[0]), default=None)
            amounts = retry - arrived.keys()
            if best is not None and best[1] >= MIN_RATE_PRECISION:
                break
            if not amounts:
                break
            if temporary:
                await self.clock.sleep(delay)
                delay *= 1.5
        best = _rate_probe(arrived)
        if best is None and too_small:
            raise ExchangeRateError(
                "every probe was rounded down to nothing on the path (R01)", self.receipt()
            )
        if best is None:
            raise ConnectFailedError(
                ErrorCode.T01_PEER_UNREACHABLE,
                "no rate probe reached the receiver",
                self.receipt(),
            )
        if best[1] == 0:
            raise ExchangeRateError("the path delivers nothing (exchange rate 0)", self.receipt())
        self.rate = Fraction(best[1], best[0])
        log.info("stream.rate.probed", rate=str(self.rate), max_packet=self.max_packet_amount)
        return self.rate

    def _raise_if_closed(self) -> None:
        c = self.connection
        if c.closed and c.closed_by_remote:
            raise ReceiverClosedError(
                "the receiver closed the connection "
                f"({_close_reason(c.close_code, c.close_message)})",
                self.receipt(),
            )

    # ---- paying ---------------------------------------------------------------------------

    def payment(
        self,
        *,
        source_amount: int | None = None,
        delivery_amount: int | None = None,
        min_rate: Fraction | None = None,
        slippage: Fraction = DEFAULT_SLIPPAGE,
        on_progress: Callable[[PaymentReceipt], None] | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        idle_timeout: float = IDLE_TIMEOUT_S,
    ) -> Payment:
        """A payment of exactly one of `source_amount` (we send that much) or
        `delivery_amount` (the receiver gets that much), in smallest units."""
        return Payment(
            self,
            source_amount=source_amount,
            delivery_amount=delivery_amount,
            min_rate=min_rate,
            slippage=slippage,
            on_progress=on_progress,
            max_in_flight=max_in_flight,
            idle_timeout=idle_timeout,
        )

    async def send_data(self, data: bytes, stream_id: int | None = None) -> int:
        """Send bytes on a stream (a new one unless `stream_id` is given) and return when the
        receiver has acknowledged all of them; returns the stream id.

        One data packet is in flight at a time, so retransmissions repeat the same offsets.
        Raises `StreamStateError` when the receiver's window stays shut.
        """
        c = self.connection
        state = c.open_stream() if stream_id is None else c.stream(stream_id)
        c.write(state.stream_id, data)
        delay = BACKOFF_START_S
        blocked = 0
        while state.outgoing:
            frames = c.take_data_frames(MAX_DATA_PER_PACKET)
            if not frames:
                raise StreamStateError(
                    f"the receiver's data window is full at offset {state.acked_offset}"
                )
            outcome = await self.send_packet(amount=0, frames=tuple(frames))
            if outcome.fulfilled:
                delay = BACKOFF_START_S
                blocked = 0
                continue
            if outcome.packet is not None:
                self._raise_if_closed()
                if state.remote_closed:
                    raise StreamStateError(f"the receiver closed stream {state.stream_id}")
                blocked += 1
                if blocked > 10:
                    raise StreamStateError("the receiver keeps refusing data")
                continue
            reject = outcome.reject
            assert reject is not None
            if reject.error_class is not ErrorClass.TEMPORARY:
                raise StreamStateError(f"data packet rejected: {_describe(reject)}")
            await self.clock.sleep(delay)
            delay = min(BACKOFF_MAX_S, delay * 2)
        return state.stream_id

    async def close(self, code: int = StreamErrorCode.NO_ERROR, message: str = "") -> None:
        """Tell the receiver the connection is over (ConnectionClose in an unfulfillable
        Prepare, as the reference does); the answer does not matter."""
        if self.connection.closed and self.connection.closed_by_remote:
            return
        self.connection.close(code, message)
        with contextlib.suppress(StreamStateError):
            await self.send_packet(amount=0, fulfillable=False)


class Payment:
    """One payment over a `StreamClient`'s connection; `run()` it, `stop()` to end early."""

    def __init__(
        self,
        client: StreamClient,
        *,
        source_amount: int | None,
        delivery_amount: int | None,
        min_rate: Fraction | None,
        slippage: Fraction,
        on_progress: Callable[[PaymentReceipt], None] | None,
        max_in_flight: int,
        idle_timeout: float,
    ) -> None:
        if (source_amount is None) == (delivery_amount is None):
            raise InvalidValueError("give exactly one of source_amount and delivery_amount")
        target = source_amount if source_amount is not None else delivery_amount
        assert target is not None
        if not 0 < target <= UINT64_MAX:
            raise InvalidValueError(
                f"the amount must be a positive integer up to 2^64-1, got {target}"
            )
        if not 0 <= slippage < 1:
            raise InvalidValueError(f"slippage must be in [0, 1), got {slippage}")
        if max_in_flight < 1:
            raise InvalidValueError("max_in_flight must be at least 1")
        self.client = client
        self.source_amount = source_amount
        self.delivery_amount = delivery_amount
        self.min_rate = min_rate
        self.slippage = slippage
        self.on_progress = on_progress
        self.max_in_flight = max_in_flight
        self.idle_timeout = idle_timeout
        self.sent = 0
        self.delivered = 0
        self.packets = 0
        self.rejected = 0
        self.max_concurrency_seen = 0
        self._in_flight: dict[asyncio.Task[ReplyOutcome], _Sent] = {}
        self._in_flight_source = 0
        self._in_flight_dest = 0
        self._answered: list[asyncio.Task[ReplyOutcome]] = []
        self._changed: asyncio.Future[None] | None = None
        self._stopping = False
        self._started = 0.0
        self._stream: StreamState | None = None
        self.floor_rate = Fraction(0)

    def stop(self) -> None:
        """Send no more packets; `run()` returns once the ones in flight are answered."""
        self._stopping = True
        self._notify()

    def receipt(self, *, complete: bool = False) -> PaymentReceipt:
        """What was delivered so far."""
        c = self.client.connection
        remote = c.remote_asset
        now = self.client.clock.monotonic()
        return PaymentReceipt(
            sent=self.sent,
            delivered=self.delivered,
            packets=self.packets,
            rejected_packets=self.rejected,
            rate=self.client.rate,
            seconds=now - self._started if self._started else 0.0,
            complete=complete,
            source_code=c.asset.code if c.asset else None,
            source_scale=c.asset.scale if c.asset else None,
            destination_code=remote.code if remote else None,
            destination_scale=remote.scale if remote else None,
            in_flight=self._in_flight_source,
        )

    # ---- the pacer ------------------------------------------------------------------------

    async def run(self) -> PaymentReceipt:
        """Pay until the target is reached (receipt with `complete=True`), `stop()` is called
        (`complete=False`), or a failure (a `PaymentError` carrying the receipt)."""
        clock = self.client.clock
        self._started = clock.monotonic()
        rate = self.client.rate
        if rate is None:
            rate = await self.client.probe_rate()
        if self.min_rate is not None and rate < self.min_rate:
            raise ExchangeRateError(
                f"the path's exchange rate {_fmt_rate(rate)} is below the minimum "
                f"{_fmt_rate(self.min_rate)}",
                self.receipt(),
            )
        self.floor_rate = max(self.min_rate or Fraction(0), rate * (1 - self.slippage))
        connection = self.client.connection
        self._stream = connection.open_stream()
        stream = self._stream

        packet_target = self.client.max_packet_amount
        window = min(INITIAL_WINDOW, self.max_in_flight)
        delay = BACKOFF_START_S
        backoff_until = 0.0
        backed_off_at = -1.0
        rate_failures = 0
        other_failures = 0
        last_progress = clock.monotonic()
        failure: PaymentError | None = None
        try:
            while True:
                now = clock.monotonic()
                if failure is None and not self._stopping and now >= backoff_until:
                    while len(self._in_flight) < window:
                        amount = self._next_amount(rate, packet_target, stream)
                        if amount <= 0:
                            break
                        self._launch(amount, rate, stream)
                self.max_concurrency_seen = max(self.max_concurrency_seen, len(self._in_flight))
                if not self._in_flight:
                    if failure is not None or self._stopping or self._done():
                        break
                    if now < backoff_until:
                        await clock.sleep(backoff_until - now)
                        continue
                    if self._receiver_full(stream):
                        failure = ReceiverLimitError(
                            f"the receiver accepts no more than {stream.remote_receive_max} "
                            "on this stream",
                            self.receipt(),
                        )
                        break
                    if now - last_progress > self.idle_timeout:
                        failure = NoProgressError(
                            f"nothing was fulfilled for {self.idle_timeout:g} s", self.receipt()
                        )
                        break
                    failure = PaymentError(  # pragma: no cover - never expected
                        ErrorCode.T00_INTERNAL_ERROR,
                        "the pacer found nothing to send",
                        self.receipt(),
                    )
                    break  # pragma: no cover
                for task in await self._wait_some(backoff_until - now):
                    sent = self._forget(task)
                    outcome = task.result()
                    if outcome.fulfilled:
                        self.sent += sent.amount
                        self.delivered += (
                            outcome.arrived if outcome.arrived is not None else sent.out.min_amount
                        )
                        self.packets += 1
                        stream.total_sent += sent.amount
                        last_progress = clock.monotonic()
                        delay = BACKOFF_START_S
                        rate_failures = other_failures = 0
                        window = min(self.max_in_flight, window + 1)
                        max_packet = self.client.max_packet_amount
                        if packet_target is not None and sent.amount >= packet_target:
                            if max_packet is None:
                                packet_target *= 2
                            else:
                                packet_target = min(
                                    max_packet, packet_target + max(1, max_packet // 10)
                                )
                        if self.on_progress is not None:
                            self.on_progress(self.receipt())
                        continue
                    self.rejected += 1
                    self.client.packets_rejected += 1
                    reject = outcome.reject
                    assert reject is not None
                    if failure is not None:
                        continue
                    if outcome.packet is not None:  # F99 from the receiver
                        failure = self._receiver_failure(stream)
                        if failure is not None:
                            continue
                        arrived = outcome.packet.prepare_amount
                        if arrived < sent.out.min_amount:
                            rate_failures += 1
                            if rate_failures >= RATE_FAILURES_ALLOWED:
                                failure = ExchangeRateError(
                                    f"the path's exchange rate fell to "
                                    f"{_fmt_rate(Fraction(arrived, sent.amount))}, below the "
                                    f"minimum {_fmt_rate(self.floor_rate)}",
                                    self.receipt(),
                                )
                        elif not self._receiver_full(stream):
                            other_failures += 1
                            if other_failures > 10:
                                failure = ReceiverClosedError(
                                    "the receiver keeps refusing packets", self.receipt()
                                )
                        continue
                    code = reject.code
                    if code == ErrorCode.F08_AMOUNT_TOO_LARGE:
                        limit = self.client.learn_max_packet(sent.amount, reject)
                        if limit <= 0:
                            failure = PaymentRejectedError(
                                ErrorCode.F08_AMOUNT_TOO_LARGE,
                                "the path cannot carry any money (maximum packet amount 0)",
                                self.receipt(),
                            )
                        packet_target = (
                            limit if packet_target is None else min(packet_target, limit)
                        )
                    elif reject.error_class is ErrorClass.TEMPORARY:
                        if code == ErrorCode.T04_INSUFFICIENT_LIQUIDITY:
                            packet_target = max(1, sent.amount - sent.amount // 3)
                        if sent.launched_at >= backed_off_at:  # once per round in flight
                            window = max(1, window // 2)
                            backed_off_at = clock.monotonic()
                            backoff_until = backed_off_at + delay
                            delay = min(BACKOFF_MAX_S, delay * 2)
                        if clock.monotonic() - last_progress > self.idle_timeout:
                            failure = NoProgressError(
                                f"nothing was fulfilled for {self.idle_timeout:g} s "
                                f"(last: {_describe(reject)})",
                                self.receipt(),
                            )
                    else:
                        failure = PaymentRejectedError(
                            _code(code),
                            f"the path rejected a packet: {_describe(reject)}",
                            self.receipt(),
                        )
        except asyncio.CancelledError:
            self._stopping = True
            await self._settle()
            raise
        if failure is not None:
            failure.update_receipt(self.receipt())  # now that nothing is in flight
            log.info("stream.payment.failed", reason=failure.reason, delivered=self.delivered)
            raise failure
        receipt = self.receipt(complete=self._done())
        log.info(
            "stream.payment.done",
            sent=receipt.sent,
            delivered=receipt.delivered,
            packets=receipt.packets,
            complete=receipt.complete,
        )
        return receipt

    def _done(self) -> bool:
        if self.source_amount is not None:
            return self.sent >= self.source_amount
        assert self.delivery_amount is not None
        return self.delivered >= self.delivery_amount

    def _next_amount(self, rate: Fraction, packet_target: int | None, stream: StreamState) -> int:
        """Source amount of the next packet, or 0 when none should go now."""
        in_flight_source = self._in_flight_source
        in_flight_dest = self._in_flight_dest
        if self.source_amount is not None:
            amount = self.source_amount - self.sent - in_flight_source
        else:
            assert self.delivery_amount is not None
            remaining = self.delivery_amount - self.delivered - in_flight_dest
            amount = ceil(remaining / rate) if remaining > 0 else 0
        if packet_target is not None:
            amount = min(amount, packet_target)
        if self.client.max_packet_amount is not None:
            amount = min(amount, self.client.max_packet_amount)
        if stream.remote_receive_max is not None:
            room = stream.remote_receive_max - stream.remote_total_received - in_flight_dest
            if room <= 0:
                return 0
            amount = min(amount, max(1, floor(room / rate)))
        return max(0, amount)

    def _receiver_full(self, stream: StreamState) -> bool:
        return (
            stream.remote_receive_max is not None
            and stream.remote_total_received >= stream.remote_receive_max
        )

    def _receiver_failure(self, stream: StreamState) -> PaymentError | None:
        c = self.client.connection
        if c.closed and c.closed_by_remote:
            return ReceiverClosedError(
                "the receiver closed the connection "
                f"({_close_reason(c.close_code, c.close_message)})",
                self.receipt(),
            )
        if stream.remote_closed:
            return ReceiverClosedError(
                "the receiver closed the stream "
                f"({_close_reason(stream.error_code, stream.error_message)})",
                self.receipt(),
            )
        return None

    def _launch(self, amount: int, rate: Fraction, stream: StreamState) -> None:
        expected = floor(amount * rate)
        min_amount = floor(amount * self.floor_rate)
        client = self.client
        out = client.connection.build_prepare(
            amount=amount,
            min_amount=min_amount,
            expires_at=client.clock.now() + client.expiry,
            frames=(StreamMoney(stream.stream_id, 1),),
            money_streams=(stream.stream_id,),
        )
        task = asyncio.ensure_future(client._send(out))
        self._in_flight[task] = _Sent(out, amount, expected, client.clock.monotonic())
        self._in_flight_source += amount
        self._in_flight_dest += expected
        task.add_done_callback(self._on_answer)

    def _on_answer(self, task: asyncio.Task[ReplyOutcome]) -> None:
        self._answered.append(task)
        self._notify()

    def _notify(self) -> None:
        changed = self._changed
        if changed is not None and not changed.done():
            changed.set_result(None)

    def _forget(self, task: asyncio.Task[ReplyOutcome]) -> _Sent:
        sent = self._in_flight.pop(task)
        self._in_flight_source -= sent.amount
        self._in_flight_dest -= sent.expected
        return sent

    async def _wait_some(self, backoff: float) -> list[asyncio.Task[ReplyOutcome]]:
        """The packets answered since the last call; waits until there is one, `stop()` is
        called, or a backoff ends."""
        if not self._answered:
            changed = self._changed = asyncio.get_running_loop().create_future()
            sleeper: asyncio.Future[None] | None = None
            if backoff > 0:
                sleeper = asyncio.ensure_future(self.client.clock.sleep(backoff))
                sleeper.add_done_callback(lambda _: self._notify())
            try:
                await changed
            finally:
                self._changed = None
                if sleeper is not None:
                    sleeper.cancel()
        answered, self._answered = self._answered, []
        return [t for t in answered if t in self._in_flight]

    async def _settle(self) -> None:
        """After a cancel: wait (shielded) for the answers of packets in flight."""
        if not self._in_flight:
            return
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(asyncio.wait(list(self._in_flight)))
        for task in [t for t in self._in_flight if t.done() and not t.cancelled()]:
            sent = self._forget(task)
            outcome = task.result()
            if outcome.fulfilled:
                self.sent += sent.amount
                self.delivered += outcome.arrived or sent.out.min_amount
                self.packets += 1


async def pay(
    link: Link,
    destination: str,
    shared_secret: bytes,
    *,
    source_amount: int | None = None,
    delivery_amount: int | None = None,
    own_address: str | None = None,
    asset: AssetDetails | None = None,
    min_rate: Fraction | None = None,
    slippage: Fraction = DEFAULT_SLIPPAGE,
    on_progress: Callable[[PaymentReceipt], None] | None = None,
    clock: Clock | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> PaymentReceipt:
    """Open a connection to `destination`, probe, pay, close. Raises `PaymentError`
    (with `.receipt`) when the payment cannot complete."""
    client = StreamClient(
        link,
        destination=destination,
        shared_secret=shared_secret,
        own_address=own_address,
        asset=asset,
        clock=clock,
    )
    payment = client.payment(
        source_amount=source_amount,
        delivery_amount=delivery_amount,
        min_rate=min_rate,
        slippage=slippage,
        on_progress=on_progress,
        max_in_flight=max_in_flight,
    )
    try:
        return await payment.run()
    finally:
        with contextlib.suppress(Exception):
            await client.close()


def _code(code: str) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.F99_APPLICATION_ERROR


def _describe(reject: Reject) -> str:
    try:
        label = ErrorCode(reject.code).label
    except ValueError:
        label = "unknown code"
    where = f" from {reject.triggered_by}" if reject.triggered_by else ""
    message = f": {reject.message}" if reject.message else ""
    return f"{reject.code} {label}{where}{message}"


def _close_reason(code: int, message: str) -> str:
    try:
        name = StreamErrorCode(code).name
    except ValueError:
        name = f"code {code}"
    return f"{name}: {message}" if message else name


def _fmt_rate(rate: Fraction) -> str:
    """A rate for people: exact when short, else 6 significant digits."""
    if rate.denominator == 1 or len(str(rate)) <= 12:
        return str(rate)
    with localcontext() as ctx:
        ctx.prec = 6
        return str(Decimal(rate.numerator) / Decimal(rate.denominator))
