"""Convert the amount into the outgoing asset (spec 03 §2 steps 11-12, §3): R01, F03."""

from __future__ import annotations

from ilpnet.connector.errors import InsufficientSourceAmountError, InvalidAmountError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.rates import Asset, Rates
from ilpnet.wire.oer import UINT64_MAX
from ilpnet.wire.packet import Fulfill, Reject


def convert_amount(rates: Rates) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        out_account = fwd.out_account
        assert out_account is not None, "route runs before convert_amount"
        amount = fwd.prepare.amount
        if amount == 0:
            return await next_(fwd.with_out_amount(0))
        source = Asset(fwd.account.asset_code, fwd.account.asset_scale)
        destination = Asset(out_account.asset_code, out_account.asset_scale)
        out = await rates.convert(source, destination, amount)
        if out <= 0:
            raise InsufficientSourceAmountError(
                f"amount converts to zero. amount={amount} "
                f"from={source.code}/{source.scale} to={destination.code}/{destination.scale}"
            )
        if out > UINT64_MAX:
            raise InvalidAmountError(f"converted amount exceeds UInt64. amount={out}")
        return await next_(fwd.with_out_amount(out))

    return step
