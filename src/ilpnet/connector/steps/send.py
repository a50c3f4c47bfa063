"""The pipeline's last handler: send the rewritten Prepare on the outgoing link and wait
until the outgoing expiry (spec 03 §5). On timeout raise R00 at once and drop any later
answer; no link for the account is T01."""

from __future__ import annotations

from collections.abc import Mapping

from ilpnet.clock import Clock
from ilpnet.connector.errors import TransferTimedOutError
from ilpnet.connector.pipeline import Forward, Handler
from ilpnet.links.base import Link
from ilpnet.links.deadline import answer_by
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject


async def send_on_link(
    links: Mapping[str, Link], clock: Clock, account: str, prepare: Prepare
) -> Fulfill | Reject:
    """Send `prepare` on `account`'s link and wait for the answer until its expiry."""
    link = links.get(account)
    if link is None:
        raise IlpError(ErrorCode.T01_PEER_UNREACHABLE, f"peer unreachable. account={account}")
    answer = await answer_by(clock, prepare.expires_at, link.send(prepare))
    if answer is None:
        raise TransferTimedOutError("packet expired.")
    return answer


def send_to_link(links: Mapping[str, Link], clock: Clock) -> Handler:
    async def handler(fwd: Forward) -> Fulfill | Reject:
        account, prepare = fwd.outgoing()
        return await send_on_link(links, clock, account.id, prepare)

    return handler
