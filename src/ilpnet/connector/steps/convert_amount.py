"""Convert the amount into the outgoing asset (spec 03 §2 steps 11-12, §3): R01, F03."""

from __future__ import annotations

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientSourceAmountError, InvalidAmountError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.rates import Asset, Rates
from ilpnet.wire.oer import UINT64_MAX
from ilpnet.wire.packet import Fulfill, Reject


def check_converted(out: int, amount: int, source: Asset, destination: Asset) -> int:
    """`out` (what `amount` converted to) when it can be sent: R01 if zero, F03 if too big."""
    if out <= 0:
        raise InsufficientSourceAmountError(
            f"amount converts to zero. amount={amount} "
            f"from={source.code}/{source.scale} to={destination.code}/{destination.scale}"
        )
    if out > UINT64_MAX:
        raise InvalidAmountError(f"converted amount exceeds UInt64. amount={out}")
    return out


def priced_amount(
    rates: Rates, account: AccountSettings, out_account: AccountSettings, amount: int
) -> int | None:
    """What `converted_amount` returns, without awaiting, when the pair has a fixed price;
    None when the pool prices it (then await `converted_amount`)."""
    if amount == 0:
        return 0
    rate = rates.priced_rate(
        account.asset_code, account.asset_scale, out_account.asset_code, out_account.asset_scale
    )
    if rate is None:
        return None
    out = amount * rate.numerator // rate.denominator
    if 0 < out <= UINT64_MAX:
        return out
    source = Asset(account.asset_code, account.asset_scale)
    destination = Asset(out_account.asset_code, out_account.asset_scale)
    return check_converted(out, amount, source, destination)


async def converted_amount(
    rates: Rates, account: AccountSettings, out_account: AccountSettings, amount: int
) -> int:
    """`amount` in `account`'s units, in `out_account`'s units (0 stays 0); R01, F03."""
    if amount == 0:
        return 0
    source = Asset(account.asset_code, account.asset_scale)
    destination = Asset(out_account.asset_code, out_account.asset_scale)
    return check_converted(
        await rates.convert(source, destination, amount), amount, source, destination
    )


def convert_amount(rates: Rates) -> Step:
    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        out_account = fwd.out_account
        assert out_account is not None, "route runs before convert_amount"
        out = await converted_amount(rates, fwd.account, out_account, fwd.prepare.amount)
        return await next_(fwd.with_out_amount(out))

    return step
