"""Exchange rates from the connector's own holdings: a constant-product rule.

A hop from asset A (scale sA) to asset B (scale sB) is priced like a constant-product pool
whose reserves are what the connector holds of each asset, ``H_A`` and ``H_B`` (in whole
units; see `BalanceHoldings`). Selling ``x`` A (whole units, after the spread) yields

    y = H_B * x / (H_A + x)

whole units of B, i.e. with amounts in each link's smallest units

    x = in_amount / 10**sA * (1 - spread)
    out_amount = floor(10**sB * H_B * x / (H_A + x))

The more B the connector holds relative to A, the more B it pays per A; every sale of A for
B raises H_A and lowers H_B, so the next sale pays less (selling drains the price), and
the pool can never pay out all of H_B. The arithmetic is exact (`Fraction`) and the one
rounding is down, in the connector's favour. Between accounts of the same asset code the
rate is 1 (scaled, minus the spread); a fixed rate per pair from config replaces the pool:
``out_amount = floor(in_amount * price * 10**(sB - sA) * (1 - spread))`` where ``price`` is
the value of one A in B.

`quote_destination` answers the reverse question: the smallest source amount whose
conversion delivers at least a wanted destination amount.

Worked example (spread 0.002): the connector holds 1 000 USD and 900 EUR. 10 USD
(scale 2: 1000) in gives x = 9.98, y = 900 * 9.98 / 1009.98 = 8.893245… EUR, so at
EUR scale 2 it sends 889. Afterwards it holds 1 010 USD and 891.11 EUR: the same 10 USD
now buy 8.7190… EUR (871).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.store.protocols import BalanceStore
from ilpnet.wire.errors import InvalidValueError


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset as one link counts it: `code` in units of 10**-scale."""

    code: str
    scale: int


class HoldingsSource(Protocol):
    """How much of each asset the connector holds, in whole units (may be fractional)."""

    async def holdings(self, asset_code: str) -> Fraction: ...


def _check_spread(spread: Fraction) -> None:
    if not 0 <= spread < 1:
        raise InvalidValueError(f"spread must be in [0, 1), got {spread}")


def pool_out(
    amount: int, source: Asset, destination: Asset, h_a: Fraction, h_b: Fraction, spread: Fraction
) -> int:
    """Constant-product conversion of `amount` (source units) into destination units."""
    if h_a <= 0 or h_b <= 0:
        raise InsufficientLiquidityError(
            f"no liquidity to exchange. {source.code}={h_a} {destination.code}={h_b}"
        )
    x = Fraction(amount, 10**source.scale) * (1 - spread)
    y = h_b * x / (h_a + x)
    out: int = math.floor(y * 10**destination.scale)
    return out


def pool_in(
    wanted: int, source: Asset, destination: Asset, h_a: Fraction, h_b: Fraction, spread: Fraction
) -> int:
    """Smallest source amount whose `pool_out` is at least `wanted`."""
    if h_a <= 0 or h_b <= 0:
        raise InsufficientLiquidityError(
            f"no liquidity to exchange. {source.code}={h_a} {destination.code}={h_b}"
        )
    y = Fraction(wanted, 10**destination.scale)
    if y >= h_b:
        raise InsufficientLiquidityError(
            f"cannot deliver {y} {destination.code}: holdings are {h_b}"
        )
    x = h_a * y / (h_b - y)
    needed: int = math.ceil(x * 10**source.scale / (1 - spread))
    return needed


def fixed_rate(price: Fraction, source: Asset, destination: Asset, spread: Fraction) -> Fraction:
    """Units of destination per unit of source for `price` (one whole A in B)."""
    return price * Fraction(10**destination.scale, 10**source.scale) * (1 - spread)


class Rates:
    """Prices every hop: fixed pairs from config, 1:1 within an asset, else the pool."""

    def __init__(
        self,
        holdings: HoldingsSource | None = None,
        *,
        spread: Fraction = Fraction(0),
        fixed: Mapping[tuple[str, str], Fraction] | None = None,
    ) -> None:
        _check_spread(spread)
        self.holdings = holdings
        self.spread = spread
        self._fixed_rates: dict[tuple[str, int, str, int], Fraction] = {}
        """Rates of the pairs with a fixed price, by (code, scale, code, scale)."""
        self.fixed: dict[tuple[str, str], Fraction] = {}
        for (a, b), price in (fixed or {}).items():
            if price <= 0:
                raise InvalidValueError(f"fixed rate {a}/{b} must be > 0, got {price}")
            self.fixed[(a, b)] = price

    def _price(self, a: str, b: str) -> Fraction | None:
        if a == b:
            return Fraction(1)
        price = self.fixed.get((a, b))
        if price is not None:
            return price
        back = self.fixed.get((b, a))
        return None if back is None else 1 / back

    async def _pool(self, a: str, b: str) -> tuple[Fraction, Fraction]:
        if self.holdings is None:
            raise InsufficientLiquidityError(f"no rate for {a}/{b}")
        return await self.holdings.holdings(a), await self.holdings.holdings(b)

    def priced_rate(
        self, source_code: str, source_scale: int, destination_code: str, destination_scale: int
    ) -> Fraction | None:
        """The rate `quote_source` uses for a pair with a fixed price (1:1 within an asset,
        or configured), with the spread; None when the pool prices the pair."""
        key = (source_code, source_scale, destination_code, destination_scale)
        rate = self._fixed_rates.get(key)
        if rate is None:
            price = self._price(source_code, destination_code)
            if price is None:
                return None
            source = Asset(source_code, source_scale)
            destination = Asset(destination_code, destination_scale)
            rate = self._fixed_rates[key] = fixed_rate(price, source, destination, self.spread)
        return rate

    async def quote_source(self, source: Asset, destination: Asset, amount: int) -> int:
        """How much `destination` units `amount` source units buy (rounded down)."""
        rate = self.priced_rate(source.code, source.scale, destination.code, destination.scale)
        if rate is not None:
            return amount * rate.numerator // rate.denominator
        h_a, h_b = await self._pool(source.code, destination.code)
        return pool_out(amount, source, destination, h_a, h_b, self.spread)

    convert = quote_source

    async def quote_destination(self, source: Asset, destination: Asset, wanted: int) -> int:
        """The smallest source amount that delivers at least `wanted` destination units."""
        price = self._price(source.code, destination.code)
        if price is not None:
            rate = fixed_rate(price, source, destination, self.spread)
            return -(-wanted * rate.denominator // rate.numerator)
        h_a, h_b = await self._pool(source.code, destination.code)
        return pool_in(wanted, source, destination, h_a, h_b, self.spread)

    async def spot_rate(self, source: Asset, destination: Asset) -> Fraction:
        """Marginal rate for a tiny amount: destination units per source unit."""
        price = self._price(source.code, destination.code)
        if price is None:
            h_a, h_b = await self._pool(source.code, destination.code)
            if h_a <= 0 or h_b <= 0:
                return Fraction(0)
            price = h_b / h_a
        return fixed_rate(price, source, destination, self.spread)


@dataclass
class BalanceHoldings:
    """Holdings of each asset: configured base liquidity plus our balances in it.

    A positive balance with a neighbour is value it owes us, so it counts as holding. Only
    what is final counts in: incoming Prepares still in flight are left out (so a packet is
    never priced against its own reservation), outgoing ones in flight count as already
    gone. Amounts are converted to whole units by each account's scale.
    """

    store: BalanceStore
    accounts: Mapping[str, AccountSettings]
    liquidity: Mapping[str, Fraction] = field(default_factory=dict)
    clock: Clock | None = None
    max_age: float = 0.0
    """Seconds a computed snapshot may be reused (0: read the store every time)."""
    _cache: dict[str, Fraction] = field(default_factory=dict, init=False)
    _cached_at: float = field(default=-math.inf, init=False)

    async def holdings(self, asset_code: str) -> Fraction:
        now = self.clock.monotonic() if self.clock is not None else 0.0
        if self.clock is None or self.max_age <= 0 or now - self._cached_at > self.max_age:
            self._cache = await self._snapshot()
            self._cached_at = now
        return self._cache.get(asset_code, Fraction(self.liquidity.get(asset_code, 0)))

    async def _snapshot(self) -> dict[str, Fraction]:
        totals = {code: Fraction(v) for code, v in self.liquidity.items()}
        for balance in await self.store.all_balances():
            account = self.accounts.get(balance.account)
            if account is None:
                continue
            final = balance.balance - balance.pending_in - balance.pending_out
            units = Fraction(final, 10**account.asset_scale)
            totals[account.asset_code] = totals.get(account.asset_code, Fraction(0)) + units
        return totals
