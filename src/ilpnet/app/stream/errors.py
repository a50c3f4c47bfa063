"""Errors of STREAM connections and payments.

IlpError
└── StreamError                    base of every STREAM failure
    ├── StreamStateError           F99: an operation the connection's state forbids
    └── PaymentError               a payment stopped; `.receipt` says what was delivered
        ├── ConnectFailedError     the receiver could not be reached (no route, F02 …)
        ├── ExchangeRateError      F04: the path's rate is below the minimum accepted
        ├── ReceiverClosedError    F99: the receiver closed the stream or connection
        ├── ReceiverLimitError     F99: the receiver accepts no more money
        ├── PaymentRejectedError   a final reject from the path (carries the code)
        └── NoProgressError        R00: nothing was fulfilled for too long
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ilpnet.wire.errors import ErrorCode, IlpError


@dataclass(frozen=True, slots=True)
class PaymentReceipt:
    """What a payment did, in exact integers of the two assets' smallest units.

    `sent` is the source amount of fulfilled packets, `delivered` what the receiver said
    arrived in them. `rate` is the probed path rate (destination units per source unit).
    """

    sent: int
    delivered: int
    packets: int
    rejected_packets: int
    rate: Fraction | None
    seconds: float
    complete: bool
    source_code: str | None = None
    source_scale: int | None = None
    destination_code: str | None = None
    destination_scale: int | None = None
    in_flight: int = 0
    """Source amount of packets whose answer never came (only after a hard cancel)."""

    @property
    def effective_rate(self) -> Fraction | None:
        return Fraction(self.delivered, self.sent) if self.sent else None


class StreamError(IlpError):
    """A STREAM failure."""


class StreamStateError(StreamError):
    """The connection or stream is in a state that does not allow the operation."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F99_APPLICATION_ERROR, message)


class PaymentError(StreamError):
    """A payment ended before its target; `receipt` holds what was delivered so far."""

    def __init__(self, code: ErrorCode, message: str, receipt: PaymentReceipt) -> None:
        super().__init__(code, message)
        self.reason = message
        self.update_receipt(receipt)

    def update_receipt(self, receipt: PaymentReceipt) -> None:
        """Replace the receipt (e.g. once packets in flight at the failure are answered)."""
        self.receipt = receipt
        self.message = f"{self.reason} (sent {receipt.sent}, delivered {receipt.delivered} so far)"
        self.args = (f"{self.code.value} {self.message}",)


class ConnectFailedError(PaymentError):
    """No packet reached the receiver."""


class ExchangeRateError(PaymentError):
    """The path's exchange rate is worse than the minimum the sender accepts."""

    def __init__(self, message: str, receipt: PaymentReceipt) -> None:
        super().__init__(ErrorCode.F04_INSUFFICIENT_DESTINATION_AMOUNT, message, receipt)


class ReceiverClosedError(PaymentError):
    """The receiver closed the stream or the whole connection."""

    def __init__(self, message: str, receipt: PaymentReceipt) -> None:
        super().__init__(ErrorCode.F99_APPLICATION_ERROR, message, receipt)


class ReceiverLimitError(PaymentError):
    """The receiver's receive limit is reached; it will not take more."""

    def __init__(self, message: str, receipt: PaymentReceipt) -> None:
        super().__init__(ErrorCode.F99_APPLICATION_ERROR, message, receipt)


class PaymentRejectedError(PaymentError):
    """A connector on the path rejected with a final (F) or relative (R) code."""


class NoProgressError(PaymentError):
    """No packet was fulfilled for longer than the idle timeout."""

    def __init__(self, message: str, receipt: PaymentReceipt) -> None:
        super().__init__(ErrorCode.R00_TRANSFER_TIMED_OUT, message, receipt)
