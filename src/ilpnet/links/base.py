"""The one interface every link implements: a connector never knows which kind it talks to.

A link is one account relationship of a node (a BTP peer or child, an on-ledger escrow
account, a payment channel). Outgoing: `send(prepare)` delivers a Prepare to the other
side and returns its Fulfill or Reject. Incoming: the link hands each Prepare it receives
to the `IncomingHandler` its owner registered, and writes back whatever that returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from ilpnet.wire.packet import Fulfill, Prepare, Reject

IncomingHandler = Callable[[Prepare], Awaitable[Fulfill | Reject]]

AnswerCallback = Callable[[Fulfill | Reject], None]
"""Takes the one answer to a Prepare (`DirectLink`)."""

DirectHandler = Callable[[Prepare, AnswerCallback], bool]
"""Takes a Prepare with the callback for its answer and returns True, having promised to
call it exactly once (now or later, from a loop callback); or returns False having done
nothing, and the link falls back to its `IncomingHandler`."""


class Link(Protocol):
    """One account relationship, seen from this node."""

    @property
    def account_id(self) -> str:
        """This node's name for the account (unique per node)."""
        ...

    def set_handler(self, handler: IncomingHandler) -> None:
        """Register who answers Prepares arriving from the other side."""
        ...

    async def start(self) -> None:
        """Connect or listen; returns when the link is usable or raises."""
        ...

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        """Deliver a Prepare to the other side and wait for its answer.

        A link that cannot deliver (peer gone, timeout) returns a Reject with a T01/R00
        code triggered by this node; it never raises for a delivery failure.
        """
        ...

    async def close(self) -> None:
        """Stop; in-flight sends end with a Reject."""
        ...


class PendingSend(Protocol):
    """A Prepare sent by `DirectLink.send_now` whose answer has not come yet."""

    def abandon(self) -> None:
        """Stop waiting (the deadline passed): the callback is never called; a late
        answer is dropped."""
        ...


class DirectLink(Link, Protocol):
    """A link that can also work without a task per packet (optional; BTP links are).

    Incoming: Prepares go first to the `DirectHandler`, if one is set. Outgoing: when
    `ready_now()`, `send_now` queues the Prepare at once and calls `on_answer` with the
    answer `send` would have returned (its own Rejects included), exactly once, unless
    abandoned first. Nothing here waits for a deadline: the caller does.
    """

    def set_direct_handler(self, handler: DirectHandler | None) -> None: ...

    def ready_now(self) -> bool:
        """Whether `send_now` can take a Prepare now."""
        ...

    def send_now(self, prepare: Prepare, on_answer: AnswerCallback) -> PendingSend: ...
