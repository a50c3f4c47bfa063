"""ILP error codes and the exception tree every layer raises.

    IlpError(code, message, data)        base: carries the ILP code a node answers with
    ├── DecodeError                      wire: bytes that cannot be read (F01, with offset)
    └── InvalidValueError                wire: a value that cannot be encoded (F01)

Higher layers subclass IlpError with their own codes.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """How a sender should react: final (give up), temporary (retry), relative (adjust)."""

    FINAL = "F"
    TEMPORARY = "T"
    RELATIVE = "R"


class ErrorCode(StrEnum):
    """Every ILPv4 reject code (IL-RFC 0027); the value is the three-character wire code."""

    F00_BAD_REQUEST = "F00"
    F01_INVALID_PACKET = "F01"
    F02_UNREACHABLE = "F02"
    F03_INVALID_AMOUNT = "F03"
    F04_INSUFFICIENT_DESTINATION_AMOUNT = "F04"
    F05_WRONG_CONDITION = "F05"
    F06_UNEXPECTED_PAYMENT = "F06"
    F07_CANNOT_RECEIVE = "F07"
    F08_AMOUNT_TOO_LARGE = "F08"
    F99_APPLICATION_ERROR = "F99"
    T00_INTERNAL_ERROR = "T00"
    T01_PEER_UNREACHABLE = "T01"
    T02_PEER_BUSY = "T02"
    T03_CONNECTOR_BUSY = "T03"
    T04_INSUFFICIENT_LIQUIDITY = "T04"
    T05_RATE_LIMITED = "T05"
    T99_APPLICATION_ERROR = "T99"
    R00_TRANSFER_TIMED_OUT = "R00"
    R01_INSUFFICIENT_SOURCE_AMOUNT = "R01"
    R02_INSUFFICIENT_TIMEOUT = "R02"
    R99_APPLICATION_ERROR = "R99"

    @property
    def error_class(self) -> ErrorClass:
        return ErrorClass(self.value[0])

    @property
    def label(self) -> str:
        """The RFC's name for the code, e.g. "Amount Too Large"."""
        return ERROR_TITLES[self]


ERROR_TITLES: dict[ErrorCode, str] = {
    ErrorCode.F00_BAD_REQUEST: "Bad Request",
    ErrorCode.F01_INVALID_PACKET: "Invalid Packet",
    ErrorCode.F02_UNREACHABLE: "Unreachable",
    ErrorCode.F03_INVALID_AMOUNT: "Invalid Amount",
    ErrorCode.F04_INSUFFICIENT_DESTINATION_AMOUNT: "Insufficient Destination Amount",
    ErrorCode.F05_WRONG_CONDITION: "Wrong Condition",
    ErrorCode.F06_UNEXPECTED_PAYMENT: "Unexpected Payment",
    ErrorCode.F07_CANNOT_RECEIVE: "Cannot Receive",
    ErrorCode.F08_AMOUNT_TOO_LARGE: "Amount Too Large",
    ErrorCode.F99_APPLICATION_ERROR: "Application Error",
    ErrorCode.T00_INTERNAL_ERROR: "Internal Error",
    ErrorCode.T01_PEER_UNREACHABLE: "Peer Unreachable",
    ErrorCode.T02_PEER_BUSY: "Peer Busy",
    ErrorCode.T03_CONNECTOR_BUSY: "Connector Busy",
    ErrorCode.T04_INSUFFICIENT_LIQUIDITY: "Insufficient Liquidity",
    ErrorCode.T05_RATE_LIMITED: "Rate Limited",
    ErrorCode.T99_APPLICATION_ERROR: "Application Error",
    ErrorCode.R00_TRANSFER_TIMED_OUT: "Transfer Timed Out",
    ErrorCode.R01_INSUFFICIENT_SOURCE_AMOUNT: "Insufficient Source Amount",
    ErrorCode.R02_INSUFFICIENT_TIMEOUT: "Insufficient Timeout",
    ErrorCode.R99_APPLICATION_ERROR: "Application Error",
}


def error_class_of(code: str) -> ErrorClass:
    """Class of any three-character code, known or not (unknown codes go by first letter)."""
    if len(code) != 3 or code[0] not in "FTR":
        raise InvalidValueError(f"not an ILP error code: {code!r}")
    return ErrorClass(code[0])


class IlpError(Exception):
    """An error a node answers with an ILP Reject carrying `code`."""

    def __init__(self, code: ErrorCode, message: str, data: bytes = b"") -> None:
        super().__init__(f"{code.value} {message}")
        self.code = code
        self.message = message
        self.data = data


class DecodeError(IlpError):
    """Bytes that cannot be read; `offset` is where reading failed."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(ErrorCode.F01_INVALID_PACKET, f"{message} offset={offset}")
        self.offset = offset
        self.reason = message


class InvalidValueError(IlpError, ValueError):
    """A value that cannot be represented on the wire (out of range, too long, bad grammar)."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.F01_INVALID_PACKET, message)
