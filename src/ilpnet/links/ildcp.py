"""ILDCP client: a child asks its parent, over any link, for its ILP address and asset."""

from __future__ import annotations

from datetime import timedelta

import structlog

from ilpnet.clock import Clock, SystemClock
from ilpnet.links.base import Link
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.ildcp import DEFAULT_TIMEOUT, IldcpRequest, IldcpResponse
from ilpnet.wire.packet import Reject

log = structlog.get_logger(__name__)


class IldcpFailed(IlpError):
    """The parent refused `peer.config` (its Reject's code, or F00 if that is unknown)."""

    def __init__(self, reject: Reject) -> None:
        try:
            code = ErrorCode(reject.code)
        except ValueError:
            code = ErrorCode.F00_BAD_REQUEST
        super().__init__(
            code, f"parent refused peer.config: {reject.code} {reject.message}", reject.data
        )
        self.reject = reject


async def fetch_config(
    link: Link, clock: Clock | None = None, expiry: timedelta = DEFAULT_TIMEOUT
) -> IldcpResponse:
    """Send the ILDCP request over `link` and read the parent's answer.

    Raises `IldcpFailed` when the parent rejects (a T01/R00 from the link itself when the
    parent is unreachable comes back the same way), `DecodeError` (F01) for a Fulfill that
    is not a valid ILDCP response.
    """
    request = IldcpRequest.expiring((clock or SystemClock()).now(), expiry)
    reply = await link.send(request.to_prepare())
    if isinstance(reply, Reject):
        raise IldcpFailed(reply)
    config = IldcpResponse.from_fulfill(reply)
    log.info(
        "ildcp.configured",
        account=link.account_id,
        address=config.client_address,
        asset_code=config.asset_code,
        asset_scale=config.asset_scale,
    )
    return config
