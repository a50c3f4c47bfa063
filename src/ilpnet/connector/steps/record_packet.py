"""Record the in-flight packet with its outgoing reservation, and end it exactly once.

`begin_packet` checks the outgoing account's minimum (T04) and records the packet; from
then on the record owns both balance reservations. The answer decides the ending: a
Fulfill commits both sides, but only if this call wins `finish_packet`: if the packet was
already ended (expired by a sweeper or another worker), the late Fulfill is not paid and
upstream gets R00. A Reject, a timeout or any failure releases both sides. Packets of
amount zero move no money and are not recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.store.protocols import InFlight, PacketState, PacketStore
from ilpnet.wire.packet import Fulfill, Reject

AfterFulfill = Callable[[AccountSettings], None]
"""Called (synchronously) for the outgoing account after each fulfilled packet."""


def record_packet(packets: PacketStore, after_fulfill: AfterFulfill | None = None) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        out_account = fwd.out_account
        assert out_account is not None
        assert fwd.out_amount is not None
        assert fwd.out_expires_at is not None
        packet_id = fwd.packet_id
        if fwd.prepare.amount == 0 and fwd.out_amount == 0:
            # No money moves: nothing to record, reserve or end (e.g. STREAM probes).
            fwd.facts.out_account = out_account.id
            return await next_(fwd)
        record = InFlight(
            packet_id=packet_id,
            incoming_account=fwd.account.id,
            incoming_amount=fwd.prepare.amount,
            outgoing_account=out_account.id,
            outgoing_amount=fwd.out_amount,
            condition=fwd.prepare.execution_condition,
            incoming_expires_at=fwd.prepare.expires_at,
            outgoing_expires_at=fwd.out_expires_at,
        )
        try:
            await packets.begin_packet(record, out_account.minimum)
        except InsufficientLiquidityError:
            raise
        except BaseException:
            # Interrupted (cancelled) mid-call: the record may exist. Ending it releases
            # both sides if it does; if not, the incoming reservation is still ours.
            if await packets.finish_packet(packet_id, PacketState.REJECTED):
                fwd.facts.recorded = True
            raise
        facts = fwd.facts
        facts.recorded = True
        facts.out_account = out_account.id
        facts.out_amount = fwd.out_amount
        try:
            answer = await next_(fwd)
        except TransferTimedOutError:
            await packets.finish_packet(packet_id, PacketState.EXPIRED)
            raise
        except BaseException:
            await packets.finish_packet(packet_id, PacketState.REJECTED)
            raise
        if isinstance(answer, Reject):
            await packets.finish_packet(packet_id, PacketState.REJECTED)
            return answer
        if not await packets.finish_packet(packet_id, PacketState.FULFILLED):
            raise TransferTimedOutError("packet expired.")
        if after_fulfill is not None:
            after_fulfill(out_account)
        return answer

    return step
