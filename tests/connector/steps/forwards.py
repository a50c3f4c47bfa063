"""Building Forwards and end handlers for step tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.pipeline import Forward, Handler
from ilpnet.crypto.condition import condition_of
from ilpnet.wire.packet import Fulfill, Prepare, Reject

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FULFILLMENT = bytes(range(32))
CONDITION = condition_of(FULFILLMENT)


def settings(id: str = "alice", **kw: Any) -> AccountSettings:
    base: dict[str, Any] = {"relation": Relation.PEER, "asset_code": "USD", "asset_scale": 2}
    base.update(kw)
    return AccountSettings(id=id, **base)


def forward(
    amount: int = 100,
    *,
    account: AccountSettings | None = None,
    expires_in: float = 30,
    destination: str = "test.bob.x",
    **kw: Any,
) -> Forward:
    prepare = Prepare(amount, NOW + timedelta(seconds=expires_in), CONDITION, destination)
    return Forward("pid", account or settings(), prepare, NOW, **kw)


class Recorder:
    """The rest of the pipeline, as a step sees it: remembers what it got, answers `answer`."""

    def __init__(self, answer: Fulfill | Reject | Callable[[Forward], Awaitable[Any]]) -> None:
        self.answer = answer
        self.seen: list[Forward] = []

    async def __call__(self, fwd: Forward) -> Fulfill | Reject:
        self.seen.append(fwd)
        if isinstance(self.answer, Fulfill | Reject):
            return self.answer
        result: Fulfill | Reject = await self.answer(fwd)
        return result


def fulfilled() -> Recorder:
    return Recorder(Fulfill(FULFILLMENT))


__all__ = ["Handler"]
