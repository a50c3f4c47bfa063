"""First step: every refusal becomes a Reject from us; a bug becomes T00 (and is logged)."""

from __future__ import annotations

import structlog

from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Reject, reject_from_error

log = structlog.get_logger(__name__)


def reject_errors(address: str) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        try:
            answer = await next_(fwd)
        except IlpError as err:
            answer = reject_from_error(err, address)
        except Exception:
            log.exception("prepare.failed", packet_id=fwd.packet_id, account=fwd.account.id)
            answer = Reject(ErrorCode.T00_INTERNAL_ERROR.value, address, "internal error.")
        fwd.facts.outcome_code = answer.code if isinstance(answer, Reject) else ""
        return answer

    return step
