"""Account settings: one per neighbour (parent, peer or child), as configured.

Balances follow spec 03 §6: positive means the peer owes us. ``maximum`` is the credit we
extend (an incoming Prepare that would push the balance above it gets T04); ``minimum`` is
how far we may owe the peer before we stop forwarding to it (T04). ``settle_threshold`` /
``settle_to``: when the balance falls below the threshold (we owe the peer), settle enough to
bring it back up to ``settle_to``. None means "no limit" / "never settle".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ilpnet.connector.store.protocols import INT64_MAX, INT64_MIN
from ilpnet.wire.oer import UINT64_MAX

AccountId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_~-]+$", min_length=1, max_length=64)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
UInt64 = Annotated[int, Field(ge=0, le=UINT64_MAX)]


class Relation(StrEnum):
    """RFC 0034: who the neighbour is to us."""

    PARENT = "parent"
    PEER = "peer"
    CHILD = "child"


class TokenBucketSettings(BaseModel):
    """At most `capacity` at once, refilled at `refill_per_second`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    refill_per_second: Annotated[int, Field(gt=0)]
    capacity: Annotated[int, Field(gt=0)]


class AccountSettings(BaseModel):
    """One neighbour's account, fixed when peering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: AccountId
    relation: Relation
    asset_code: Annotated[str, Field(min_length=1, max_length=16)]
    asset_scale: Annotated[int, Field(ge=0, le=255)]
    max_packet_amount: UInt64 | None = None
    minimum: Int64 | None = None
    maximum: Int64 | None = None
    settle_threshold: Int64 | None = None
    settle_to: Int64 = 0
    packet_rate: TokenBucketSettings | None = None
    """Packets per second (T05 when exceeded)."""
    amount_rate: TokenBucketSettings | None = None
    """Amount per second in this account's units (T04 when exceeded)."""
    ilp_address_segment: Annotated[str, Field(pattern=r"^[A-Za-z0-9_~-]+$")] | None = None
    """Children: the last segment of the address ILDCP hands out (default: the id)."""

    @model_validator(mode="after")
    def _check_limits(self) -> Self:
        if self.minimum is not None and self.maximum is not None and self.maximum < self.minimum:
            raise ValueError("maximum: must be >= minimum")
        if self.settle_threshold is not None and self.settle_to <= self.settle_threshold:
            raise ValueError("settle_to: must be > settle_threshold")
        if self.ilp_address_segment is not None and self.relation is not Relation.CHILD:
            raise ValueError("ilp_address_segment: only child accounts get an address")
        return self

    @property
    def address_segment(self) -> str:
        return self.ilp_address_segment or self.id
