"""Every way a ledger request can be refused: one class per error code.

IlpError
└── LedgerError                   code, HTTP status, ILP code; JSON {"error", "message"}
    ├── InvalidRequest            400 malformed JSON, missing or mistyped field
    ├── InvalidAmount             400 amount not a positive integer in range
    ├── Unauthorized              401 missing or wrong credentials
    ├── Forbidden                 403 the account may not act on this object
    ├── UnknownAccount            404
    ├── UnknownEscrow             404
    ├── UnknownChannel            404
    ├── NotFound                  404 no such endpoint
    ├── MethodNotAllowed          405
    ├── AccountExists             409 name taken (with another secret)
    ├── IdempotencyConflict       409 same request id, different content
    ├── EscrowExpired             409 fulfil at or after expiry (or already rolled back)
    ├── AlreadyFulfilled          409 double fulfil
    ├── StaleClaim                409 claim not above what was already paid
    ├── ChannelClosed             409
    ├── ChannelClosing            409 top-up of a channel whose close was requested
    ├── PayloadTooLarge           413 body or memo over its limit
    ├── InsufficientFunds         422
    ├── WrongPreimage             422 SHA-256(preimage) != condition
    ├── ClaimOverDeposit          422 cumulative claim above the channel deposit
    ├── BadSignature              422 forged claim
    ├── FaucetLimit               422 faucet amount above the cap
    ├── RateLimited               429 faucet used too often
    └── InternalError             500
"""

from __future__ import annotations

from typing import ClassVar

from ilpnet.wire.errors import ErrorCode, IlpError


class LedgerError(IlpError):
    """A refused ledger request. `error` is the stable machine code on the JSON API."""

    error: ClassVar[str] = "ledger_error"
    status: ClassVar[int] = 400
    ilp_code: ClassVar[ErrorCode] = ErrorCode.F00_BAD_REQUEST

    def __init__(self, message: str) -> None:
        super().__init__(self.ilp_code, message)

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}


class InvalidRequest(LedgerError):
    error = "invalid_request"


class InvalidAmount(LedgerError):
    error = "invalid_amount"
    ilp_code = ErrorCode.F03_INVALID_AMOUNT


class Unauthorized(LedgerError):
    error = "unauthorized"
    status = 401


class Forbidden(LedgerError):
    error = "forbidden"
    status = 403


class UnknownAccount(LedgerError):
    error = "unknown_account"
    status = 404
    ilp_code = ErrorCode.F02_UNREACHABLE


class UnknownEscrow(LedgerError):
    error = "unknown_escrow"
    status = 404


class UnknownChannel(LedgerError):
    error = "unknown_channel"
    status = 404


class NotFound(LedgerError):
    error = "not_found"
    status = 404


class MethodNotAllowed(LedgerError):
    error = "method_not_allowed"
    status = 405


class AccountExists(LedgerError):
    error = "account_exists"
    status = 409


class IdempotencyConflict(LedgerError):
    error = "idempotency_conflict"
    status = 409


class EscrowExpired(LedgerError):
    error = "escrow_expired"
    status = 409
    ilp_code = ErrorCode.R00_TRANSFER_TIMED_OUT


class AlreadyFulfilled(LedgerError):
    error = "already_fulfilled"
    status = 409


class StaleClaim(LedgerError):
    error = "stale_claim"
    status = 409


class ChannelClosed(LedgerError):
    error = "channel_closed"
    status = 409


class ChannelClosing(LedgerError):
    error = "channel_closing"
    status = 409


class PayloadTooLarge(LedgerError):
    error = "payload_too_large"
    status = 413


class InsufficientFunds(LedgerError):
    error = "insufficient_funds"
    status = 422
    ilp_code = ErrorCode.T04_INSUFFICIENT_LIQUIDITY


class WrongPreimage(LedgerError):
    error = "wrong_preimage"
    status = 422
    ilp_code = ErrorCode.F05_WRONG_CONDITION


class ClaimOverDeposit(LedgerError):
    error = "claim_over_deposit"
    status = 422


class BadSignature(LedgerError):
    error = "bad_signature"
    status = 422


class FaucetLimit(LedgerError):
    error = "faucet_limit"
    status = 422
    ilp_code = ErrorCode.F08_AMOUNT_TOO_LARGE


class RateLimited(LedgerError):
    error = "rate_limited"
    status = 429
    ilp_code = ErrorCode.T05_RATE_LIMITED


class InternalError(LedgerError):
    error = "internal_error"
    status = 500
    ilp_code = ErrorCode.T00_INTERNAL_ERROR


ERRORS: dict[str, type[LedgerError]] = {
    cls.error: cls
    for cls in (
        InvalidRequest,
        InvalidAmount,
        Unauthorized,
        Forbidden,
        UnknownAccount,
        UnknownEscrow,
        UnknownChannel,
        NotFound,
        MethodNotAllowed,
        AccountExists,
        IdempotencyConflict,
        EscrowExpired,
        AlreadyFulfilled,
        StaleClaim,
        ChannelClosed,
        ChannelClosing,
        PayloadTooLarge,
        InsufficientFunds,
        WrongPreimage,
        ClaimOverDeposit,
        BadSignature,
        FaucetLimit,
        RateLimited,
        InternalError,
    )
}


def error_from_json(status: int, body: object) -> LedgerError:
    """Rebuild the typed error a server answered with (clients use this)."""
    if isinstance(body, dict):
        code, message = body.get("error"), body.get("message")
        if isinstance(code, str) and isinstance(message, str) and code in ERRORS:
            return ERRORS[code](message)
        if isinstance(message, str):
            prefix = f"{code}: " if isinstance(code, str) else ""
            return _by_status(status)(f"HTTP {status}: {prefix}{message}")
    return _by_status(status)(f"HTTP {status} without a ledger error body")


def _by_status(status: int) -> type[LedgerError]:
    for cls in ERRORS.values():
        if cls.status == status:
            return cls
    return InternalError if status >= 500 else InvalidRequest
