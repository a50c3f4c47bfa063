"""Never pass on a fulfillment that does not match the condition (spec 03 §5): F05."""

from __future__ import annotations

from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.crypto.condition import fulfillment_matches
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Reject


def check_fulfillment(answer: Fulfill | Reject, condition: bytes, out_account: str) -> None:
    """F05 when `answer` is a Fulfill whose fulfillment does not match `condition`."""
    if isinstance(answer, Fulfill) and not fulfillment_matches(answer.fulfillment, condition):
        raise IlpError(
            ErrorCode.F05_WRONG_CONDITION,
            f"fulfillment did not match condition. account={out_account}",
        )


def verify_fulfillment() -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        answer = await next_(fwd)
        check_fulfillment(
            answer,
            fwd.prepare.execution_condition,
            fwd.out_account.id if fwd.out_account else "?",
        )
        return answer

    return step
