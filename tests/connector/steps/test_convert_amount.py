from __future__ import annotations

from fractions import Fraction

import pytest

from ilpnet.connector.errors import InsufficientSourceAmountError, InvalidAmountError
from ilpnet.connector.rates import Rates
from ilpnet.connector.steps.convert_amount import convert_amount
from tests.connector.steps.forwards import forward, fulfilled, settings

USD9 = settings("bob", asset_code="USD", asset_scale=9)
USD2 = settings("alice", asset_code="USD", asset_scale=2)


async def test_scales_and_rounds_down() -> None:
    rest = fulfilled()
    fwd = forward(12_345_678_901, account=settings(asset_scale=9), out_account=USD2)
    await convert_amount(Rates())(fwd, rest)
    assert rest.seen[0].out_amount == 1234


async def test_r01_when_it_converts_to_zero() -> None:
    fwd = forward(9_999_999, account=settings(asset_scale=9), out_account=USD2)
    with pytest.raises(InsufficientSourceAmountError):
        await convert_amount(Rates())(fwd, fulfilled())


async def test_zero_stays_zero() -> None:
    rest = fulfilled()
    await convert_amount(Rates())(forward(0, out_account=USD9), rest)
    assert rest.seen[0].out_amount == 0


async def test_f03_beyond_uint64() -> None:
    rates = Rates(fixed={("USD", "XYZ"): Fraction(10**12)})
    fwd = forward(2**63, out_account=settings("x", asset_code="XYZ", asset_scale=2))
    with pytest.raises(InvalidAmountError):
        await convert_amount(rates)(fwd, fulfilled())
