from __future__ import annotations

from ilpnet.connector.errors import UnreachableError
from ilpnet.connector.pipeline import Forward
from ilpnet.connector.steps.reject_errors import reject_errors
from ilpnet.wire.packet import Fulfill, Reject
from tests.connector.steps.forwards import Recorder, forward, fulfilled


async def test_ilp_error_becomes_our_reject() -> None:
    async def refuse(fwd: Forward) -> Fulfill:
        raise UnreachableError("no route found. destination=test.x")

    fwd = forward()
    answer = await reject_errors("test.me")(fwd, Recorder(refuse))
    assert answer == Reject("F02", "test.me", "no route found. destination=test.x")
    assert fwd.facts.outcome_code == "F02"


async def test_bug_becomes_t00() -> None:
    async def broken(fwd: Forward) -> Fulfill:
        raise KeyError("oops")

    answer = await reject_errors("test.me")(forward(), Recorder(broken))
    assert answer == Reject("T00", "test.me", "internal error.")


async def test_answers_pass_unchanged() -> None:
    relayed = Reject("F99", "test.far", "app says no", b"data")
    assert await reject_errors("test.me")(forward(), Recorder(relayed)) == relayed
    fwd = forward()
    assert isinstance(await reject_errors("test.me")(fwd, fulfilled()), Fulfill)
    assert fwd.facts.outcome_code == ""
