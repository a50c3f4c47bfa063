"""`peer.*` destinations are answered here, never forwarded (spec 03 §2 step 6, §7).

`peer.config` is the ILDCP host (children only); `peer.route.*` goes to the CCP handler and
`peer.settle` to the settlement-message handler when the connector has one; any other
`peer.*`, or one without a handler, is F01.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.wire.address import child_address
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.ildcp import PEER_CONFIG, IldcpResponse, check_peer_protocol_prepare
from ilpnet.wire.packet import Fulfill, Prepare, Reject

PeerProtocolHandler = Callable[[AccountSettings, Prepare], Awaitable[Fulfill | Reject]]
"""Answers one peer-protocol Prepare from an account (e.g. a CCP route update)."""

PEER_PREFIX = "peer."
EMPTY_CONDITION = hashlib.sha256(b"").digest()
"""RFC 0038's (inconsistent) `peer.settle` condition, accepted on receipt (spec 10 §3.2)."""


def ildcp_answer(address: str, account: AccountSettings) -> Fulfill:
    """The ILDCP Fulfill for child `account` of the connector at `address`."""
    if account.relation is not Relation.CHILD:
        raise IlpError(
            ErrorCode.F00_BAD_REQUEST, f"only children get an address. account={account.id}"
        )
    client = child_address(address, account.address_segment)
    return IldcpResponse(client, account.asset_scale, account.asset_code).to_fulfill()


def peer_protocols(
    address: str,
    *,
    ccp: PeerProtocolHandler | None = None,
    settle: PeerProtocolHandler | None = None,
) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        prepare = fwd.prepare
        destination = prepare.destination
        if not destination.startswith(PEER_PREFIX):
            return await next_(fwd)
        if destination == PEER_CONFIG:
            check_peer_protocol_prepare(prepare, PEER_CONFIG)
            return ildcp_answer(address, fwd.account)
        if destination.startswith("peer.route.") and ccp is not None:
            check_peer_protocol_prepare(prepare, destination)
            return await ccp(fwd.account, prepare)
        if destination == "peer.settle" and settle is not None:
            if prepare.execution_condition != EMPTY_CONDITION:
                check_peer_protocol_prepare(prepare, destination)
            return await settle(fwd.account, prepare)
        raise IlpError(
            ErrorCode.F01_INVALID_PACKET, f"unknown peer protocol. destination={destination}"
        )

    return step
