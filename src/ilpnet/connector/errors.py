"""The connector's refusals: one IlpError subclass per code the pipeline raises itself.

IlpError
├── UnreachableError            F02  no route, or a test/live network mismatch
├── InvalidAmountError          F03  converted amount does not fit in UInt64
├── AmountTooLargeError         F08  above the account's max packet amount (with data)
├── InsufficientLiquidityError  T04  a balance limit or throughput limit would be broken
├── RateLimitedError            T05  too many packets per second from one account
├── TransferTimedOutError       R00  expired before it could be answered
├── InsufficientSourceAmountError R01 converts to zero
└── InsufficientTimeoutError    R02  not enough time left to forward
"""

from __future__ import annotations

from ilpnet.wire.errors import ErrorCode, IlpError


class UnreachableError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F02_UNREACHABLE, message)


class InvalidAmountError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F03_INVALID_AMOUNT, message)


class AmountTooLargeError(IlpError):
    def __init__(self, message: str, data: bytes) -> None:
        super().__init__(ErrorCode.F08_AMOUNT_TOO_LARGE, message, data)


class InsufficientLiquidityError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.T04_INSUFFICIENT_LIQUIDITY, message)


class RateLimitedError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.T05_RATE_LIMITED, message)


class TransferTimedOutError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.R00_TRANSFER_TIMED_OUT, message)


class InsufficientSourceAmountError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.R01_INSUFFICIENT_SOURCE_AMOUNT, message)


class InsufficientTimeoutError(IlpError):
    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.R02_INSUFFICIENT_TIMEOUT, message)
