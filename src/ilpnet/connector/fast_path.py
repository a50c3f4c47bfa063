"""The pipeline of `build_pipeline` as one coroutine, for the Prepares most packets are.

`build_pipeline` chains thirteen steps, each its own coroutine that hands a rewritten copy
of the `Forward` to the next. For a Prepare that is neither for a peer protocol
(``peer.*``) nor for the connector's own address (echo), two of those steps do nothing and
the other eleven run in a fixed order with nothing between them; `FastPath.forward` runs
the same logic (the steps' own functions: `take_packet`, `check_packet_amount`,
`Router.next_hop`, `outgoing_expiry`, ...) in that order in one coroutine, with the
outgoing account, amount and expiry in local variables. It shares the rate limiters'
token buckets with the chain, so every packet counts once whichever way it went. When
the route, a fixed price and the outgoing expiry can be found before anything changes (the
usual packet), the reservation of `reserve_balance` and the record of `record_packet` are
one store call (`reserve_and_begin`): nothing between those steps could refuse it then.

Outcome for outcome it is the chain: the same answers, reject codes and messages, balance
changes and store records, and the same facts for the observer
(`tests/connector/test_fast_path.py` compares both on random packets and limits).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import structlog

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.pipeline import ExpiryWindow, Forward
from ilpnet.connector.rates import Rates
from ilpnet.connector.steps.amount_rate_limit import take_amount
from ilpnet.connector.steps.convert_amount import converted_amount, priced_amount
from ilpnet.connector.steps.max_packet_amount import check_packet_amount
from ilpnet.connector.steps.peer_protocols import PEER_PREFIX
from ilpnet.connector.steps.rate_limit import Buckets, take_packet
from ilpnet.connector.steps.record_packet import AfterFulfill
from ilpnet.connector.steps.reject_expired import check_not_expired
from ilpnet.connector.steps.route import Router
from ilpnet.connector.steps.shorten_expiry import outgoing_expiry, usable_expiry
from ilpnet.connector.steps.verify_fulfillment import check_fulfillment
from ilpnet.connector.store.protocols import InFlight, PacketState, Store
from ilpnet.links.base import Link
from ilpnet.links.deadline import answer_by
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Reject, reject_from_error

log = structlog.get_logger(__name__)

_REJECTED = PacketState.REJECTED
_FULFILLED = PacketState.FULFILLED
_EXPIRED = PacketState.EXPIRED


class FastPath:
    """`build_pipeline`'s steps in one coroutine, for Prepares `takes` accepts."""

    __slots__ = (
        "_address",
        "_after_fulfill",
        "_amount_buckets",
        "_clock",
        "_expiry",
        "_links",
        "_packet_buckets",
        "_rates",
        "_router",
        "_store",
    )

    def __init__(
        self,
        address: str,
        clock: Clock,
        store: Store,
        router: Router,
        rates: Rates,
        expiry: ExpiryWindow,
        links: Mapping[str, Link],
        *,
        packet_buckets: Buckets,
        amount_buckets: Buckets,
        after_fulfill: AfterFulfill | None,
    ) -> None:
        self._address = address
        self._clock = clock
        self._store = store
        self._router = router
        self._rates = rates
        self._expiry = expiry
        self._links = links
        self._packet_buckets = packet_buckets
        self._amount_buckets = amount_buckets
        self._after_fulfill = after_fulfill

    def takes(self, destination: str) -> bool:
        """Whether a Prepare to `destination` skips `peer_protocols` and `echo` in the
        chain (those two answer only ``peer.*`` and the connector's own address)."""
        return destination != self._address and not destination.startswith(PEER_PREFIX)

    def _at_once(self, fwd: Forward, now: datetime) -> tuple[AccountSettings, int, datetime] | None:
        """The outgoing account, amount and expiry of `fwd` when the route, a fixed price
        and the outgoing expiry are all found without refusing (no side effects); None when
        any of them refuses or the pool prices the pair (then the steps run one by one, and
        refuse in their order)."""
        account = fwd.account
        prepare = fwd.prepare
        try:
            out_account = self._router.next_hop(account.id, prepare.destination)
            out_amount = priced_amount(self._rates, account, out_account, prepare.amount)
        except IlpError:
            return None
        out_expires_at = usable_expiry(prepare.expires_at, now, self._expiry)
        if out_amount is None or out_expires_at is None:
            return None
        return out_account, out_amount, out_expires_at

    async def forward(self, fwd: Forward) -> Fulfill | Reject:
        """What the chain answers `fwd`. Each block below is the step named beside it; the
        nesting of the `try` blocks is the nesting of the steps around the send."""
        facts = fwd.facts
        account = fwd.account
        prepare = fwd.prepare
        amount = prepare.amount
        clock = self._clock
        store = self._store
        answer: Fulfill | Reject
        try:  # reject_errors: refusals become Rejects from us, a bug T00
            if account.packet_rate is not None:  # packet_rate_limit
                take_packet(self._packet_buckets, clock, account)
            if account.max_packet_amount is not None:  # max_packet_amount
                check_packet_amount(account, amount)
            if account.amount_rate is not None:  # amount_rate_limit
                take_amount(self._amount_buckets, clock, account, amount)
            expires_at = prepare.expires_at
            now = clock.now()
            check_not_expired(expires_at, now)  # reject_expired
            # With the route, price and outgoing expiry known before anything changes,
            # reserve_balance is made by record_packet's store call (`reserve_and_begin`).
            at_once = self._at_once(fwd, now) if amount else None
            if amount and at_once is None:  # reserve_balance
                await store.reserve_incoming(
                    fwd.packet_id, account.id, amount, account.maximum, expires_at
                )
            try:
                # (peer_protocols and echo pass these Prepares on untouched: `takes`)
                if at_once is not None:
                    out_account, out_amount, out_expires_at = at_once
                else:
                    out_account = self._router.next_hop(account.id, prepare.destination)  # route
                    priced = priced_amount(self._rates, account, out_account, amount)
                    if priced is None:  # convert_amount, priced by the pool
                        priced = await converted_amount(self._rates, account, out_account, amount)
                    out_amount = priced
                    out_expires_at = outgoing_expiry(expires_at, clock.now(), self._expiry)
                out_id = out_account.id
                record: InFlight | None = None
                if amount or out_amount:  # record_packet
                    record = InFlight(
                        fwd.packet_id,
                        account.id,
                        amount,
                        out_id,
                        out_amount,
                        prepare.execution_condition,
                        expires_at,
                        out_expires_at,
                    )
                    try:
                        if at_once is not None:
                            await store.reserve_and_begin(
                                record, account.maximum, out_account.minimum
                            )
                        else:
                            await store.begin_packet(record, out_account.minimum)
                    except InsufficientLiquidityError:
                        raise
                    except BaseException:  # interrupted: the record may exist
                        if await store.finish_packet(record.packet_id, _REJECTED):
                            facts.recorded = True
                        raise
                    facts.recorded = True
                    facts.out_amount = out_amount
                facts.out_account = out_id
                try:
                    link = self._links.get(out_id)  # send_to_link
                    if link is None:
                        raise IlpError(
                            ErrorCode.T01_PEER_UNREACHABLE, f"peer unreachable. account={out_id}"
                        )
                    outgoing = prepare.with_changes(amount=out_amount, expires_at=out_expires_at)
                    sent = await answer_by(clock, outgoing.expires_at, link.send(outgoing))
                    if sent is None:
                        raise TransferTimedOutError("packet expired.")
                    answer = sent
                    check_fulfillment(answer, prepare.execution_condition, out_id)
                except TransferTimedOutError:
                    if record is not None:
                        await store.finish_packet(record.packet_id, _EXPIRED)
                    raise
                except BaseException:
                    if record is not None:
                        await store.finish_packet(record.packet_id, _REJECTED)
                    raise
                if record is not None:
                    if isinstance(answer, Reject):
                        await store.finish_packet(record.packet_id, _REJECTED)
                    elif not await store.finish_packet(record.packet_id, _FULFILLED):
                        raise TransferTimedOutError("packet expired.")
                    elif self._after_fulfill is not None:
                        self._after_fulfill(out_account)
            except BaseException:
                if amount and not facts.recorded and at_once is None:
                    await store.release_incoming(fwd.packet_id)
                raise
            if amount and not facts.recorded:
                if isinstance(answer, Fulfill):
                    await store.commit_incoming(fwd.packet_id)
                else:
                    await store.release_incoming(fwd.packet_id)
        except IlpError as err:
            answer = reject_from_error(err, self._address)
        except Exception:
            log.exception("prepare.failed", packet_id=fwd.packet_id, account=account.id)
            answer = Reject(ErrorCode.T00_INTERNAL_ERROR.value, self._address, "internal error.")
        facts.outcome_code = answer.code if isinstance(answer, Reject) else ""
        return answer
