"""Never pass on a fulfillment that does not match the condition (spec 03 §5): F05."""

from __future__ import annotations

from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.crypto.condition import fulfillment_matches
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Reject


def verify_fulfillment() -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        answer = await next_(fwd)
        if isinstance(answer, Fulfill) and not fulfillment_matches(
            answer.fulfillment, fwd.prepare.execution_condition
        ):
            raise IlpError(
                ErrorCode.F05_WRONG_CONDITION,
                "fulfillment did not match condition. "
                f"account={fwd.out_account.id if fwd.out_account else '?'}",
            )
        return answer

    return step
