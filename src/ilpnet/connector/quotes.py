"""Quotes for on-ledger escrow payments: what a source amount delivers, and the reverse.

The answer comes from the same balance-driven `Rates` the pipeline converts with, for the
route a payment to that destination would take now; a later payment may see a slightly
different price (every payment moves the pool). Where the route goes on through a peer
connector, that peer prices the rest (`ilpnet.connector.onward_quotes`), so the quote
covers the whole path.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ilpnet.connector.connector import Connector
from ilpnet.connector.errors import InsufficientSourceAmountError, UnreachableError
from ilpnet.connector.onward_quotes import MAX_HOPS, PeerQuotes
from ilpnet.connector.rates import Asset
from ilpnet.links.ledger_escrow import LedgerEscrowLink
from ilpnet.wire.address import is_valid_address
from ilpnet.wire.errors import InvalidValueError


@dataclass(frozen=True, slots=True)
class Quote:
    source_ledger: str
    """The source ledger's name (ILP prefix); empty for a quote from a peer's asset."""
    source_asset: Asset
    source_amount: int
    destination: str
    destination_ledger: str
    destination_asset: Asset
    destination_amount: int
    connector_account: str
    """Where the sender escrows (the connector's account on the source ledger)."""
    sender_fee: int
    """The source ledger's fee for the sender's own escrow (source units)."""
    rollback_charge: int
    """What the sender's deposit is charged if this payment rolls back (source units)."""
    min_expiry_ms: int
    """The shortest escrow expiry the connector can still forward."""

    @property
    def rate(self) -> Fraction:
        """Destination units per source unit, as quoted."""
        return Fraction(self.destination_amount, self.source_amount)

    def to_json(self) -> dict[str, object]:
        return {
            "source": {
                "ledger": self.source_ledger,
                "asset_code": self.source_asset.code,
                "asset_scale": self.source_asset.scale,
                "amount": str(self.source_amount),
            },
            "destination": {
                "address": self.destination,
                "ledger": self.destination_ledger,
                "asset_code": self.destination_asset.code,
                "asset_scale": self.destination_asset.scale,
                "amount": str(self.destination_amount),
            },
            "rate": f"{self.rate.numerator}/{self.rate.denominator}",
            "connector_account": self.connector_account,
            "sender_fee": str(self.sender_fee),
            "rollback_charge": str(self.rollback_charge),
            "min_expiry_ms": self.min_expiry_ms,
        }


def _asset(link: LedgerEscrowLink) -> Asset:
    assert link.info is not None
    return Asset(link.info.asset_code, link.info.asset_scale)


async def quote(
    connector: Connector,
    links: dict[str, LedgerEscrowLink],
    source: LedgerEscrowLink | Asset,
    destination: str,
    *,
    source_amount: int | None = None,
    destination_amount: int | None = None,
    rollback_charge: int = 0,
    margin_ms: int = 0,
    onward: PeerQuotes | None = None,
    hops: int = 0,
) -> Quote:
    """Price a payment from `source` (a ledger's escrow link, or an asset arriving from a
    peer) to `destination`; exactly one amount given. A route that goes on through a peer
    in `onward` is priced to the end by that peer."""
    if (source_amount is None) == (destination_amount is None):
        raise InvalidValueError("give exactly one of source_amount and destination_amount")
    amount = source_amount if source_amount is not None else destination_amount
    assert amount is not None
    if amount <= 0:
        raise InvalidValueError(f"amount must be a positive integer, got {amount}")
    if not is_valid_address(destination):
        raise InvalidValueError(f"not an ILP address: {destination!r}")
    found = connector.routing_table.lookup(destination)
    out_account = connector.accounts.get(found.next_hop) if found is not None else None
    if found is None or out_account is None:
        raise UnreachableError(f"no route for destination. destination={destination}")
    out = links.get(found.next_hop)
    if out is not None:
        out.receiver_of(destination)
        assert out.info is not None
        destination_ledger = out.info.name
    else:
        destination_ledger = found.prefix  # off-ledger accounts, peers
    src = _asset(source) if isinstance(source, LedgerEscrowLink) else source
    dst = Asset(out_account.asset_code, out_account.asset_scale)
    rates = connector.rates
    window_ms = int(2 * connector.expiry.min_message_window.total_seconds() * 1000)
    min_expiry_ms = window_ms + margin_ms
    if out is None and onward is not None and found.next_hop in onward:
        if hops >= MAX_HOPS:
            raise UnreachableError(
                f"quote crosses more than {MAX_HOPS} connectors. destination={destination}"
            )
        # our hop into the peer's asset, the rest as the peer prices it
        if source_amount is not None:
            mid = await rates.quote_source(src, dst, source_amount)
            if mid <= 0:
                raise InsufficientSourceAmountError(
                    f"amount converts to zero. amount={source_amount} {src.code}/{src.scale}"
                )
            far = await onward.quote(
                found.next_hop, dst, destination, source_amount=mid, hops=hops + 1
            )
            sent = source_amount
        else:
            far = await onward.quote(
                found.next_hop,
                dst,
                destination,
                destination_amount=destination_amount,
                hops=hops + 1,
            )
            sent = await rates.quote_destination(src, dst, far.source_amount)
        delivered = far.destination_amount
        destination_ledger, dst = far.destination_ledger, far.destination_asset
        min_expiry_ms = window_ms + far.min_expiry_ms
    elif source_amount is not None:
        delivered = await rates.quote_source(src, dst, source_amount)
        if delivered <= 0:
            raise InsufficientSourceAmountError(
                f"amount converts to zero. amount={source_amount} {src.code}/{src.scale}"
            )
        sent = source_amount
    else:
        assert destination_amount is not None
        sent = await rates.quote_destination(src, dst, destination_amount)
        delivered = await rates.quote_source(src, dst, sent)
    ledger, account, fee = "", "", 0
    if isinstance(source, LedgerEscrowLink):
        assert source.info is not None
        ledger, account, fee = source.prefix, source.me, source.info.fee
    return Quote(
        source_ledger=ledger,
        source_asset=src,
        source_amount=sent,
        destination=destination,
        destination_ledger=destination_ledger,
        destination_asset=dst,
        destination_amount=delivered,
        connector_account=account,
        sender_fee=fee,
        rollback_charge=rollback_charge,
        min_expiry_ms=min_expiry_ms,
    )
