"""Reserve the incoming amount against the account's maximum (spec 03 §2 step 5, T04).

Committed when the packet is fulfilled, released otherwise, unless the in-flight record
(`record_packet`) has taken both reservations over. Zero-amount packets skip this.
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
        account = fwd.account.id
        await balances.reserve_incoming(account, amount, fwd.account.maximum)
        try:
            answer = await next_(fwd)
        except BaseException:
            if not fwd.facts.recorded:
                await balances.release_incoming(account, amount)
            raise
        if not fwd.facts.recorded:
            if isinstance(answer, Fulfill):
                await balances.commit_incoming(account, amount)
            else:
                await balances.release_incoming(account, amount)
        return answer

    return step
