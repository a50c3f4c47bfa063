"""Reserve the incoming amount against the account's maximum (spec 03 §2 step 5, T04).

The store keeps it as the packet's hold. Committed when the packet is fulfilled, released
otherwise, unless the in-flight record (`record_packet`) has taken both reservations over.
Zero-amount packets skip this.
"""

from __future__ import annotations

from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.store.protocols import BalanceStore
from ilpnet.wire.packet import Fulfill, Reject


def reserve_balance(balances: BalanceStore) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        amount = fwd.prepare.amount
        if amount == 0:
            return await next_(fwd)
        packet_id = fwd.packet_id
        account = fwd.account
        await balances.reserve_incoming(
            packet_id, account.id, amount, account.maximum, fwd.prepare.expires_at
        )
        try:
            answer = await next_(fwd)
        except BaseException:
            if not fwd.facts.recorded:
                await balances.release_incoming(packet_id)
            raise
        if not fwd.facts.recorded:
            if isinstance(answer, Fulfill):
                await balances.commit_incoming(packet_id)
            else:
                await balances.release_incoming(packet_id)
        return answer

    return step
