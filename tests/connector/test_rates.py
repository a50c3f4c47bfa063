"""Constant-product rates from holdings, fixed pairs, reverse quotes; exact and rounded down."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.rates import Asset, BalanceHoldings, Rates, pool_in, pool_out
from ilpnet.connector.store import InFlight, MemoryStore, PacketState
from ilpnet.wire.errors import InvalidValueError

USD2 = Asset("USD", 2)
EUR2 = Asset("EUR", 2)
EUR6 = Asset("EUR", 6)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Fixed:
    """Holdings that stay where a test puts them."""

    def __init__(self, **holdings: int) -> None:
        self.values = {k: Fraction(v) for k, v in holdings.items()}

    async def holdings(self, asset_code: str) -> Fraction:
        return self.values.get(asset_code, Fraction(0))


def test_worked_example_from_the_docs() -> None:
    spread = Fraction(2, 1000)
    assert pool_out(1000, USD2, EUR2, Fraction(1000), Fraction(900), spread) == 889
    after = Fraction(900) - Fraction(889, 100)
    assert pool_out(1000, USD2, EUR2, Fraction(1010), after, spread) == 871


def test_more_b_held_pays_more_b() -> None:
    rich = pool_out(10_000, USD2, EUR2, Fraction(1000), Fraction(2000), Fraction(0))
    poor = pool_out(10_000, USD2, EUR2, Fraction(1000), Fraction(500), Fraction(0))
    assert rich > poor


async def test_same_asset_and_scales() -> None:
    rates = Rates(spread=Fraction(0))
    # Spec 03 §3: 12 345 678 901 at USD/9 → USD/2, price 1: 1234.5678901 → 1234.
    assert await rates.convert(Asset("USD", 9), USD2, 12_345_678_901) == 1234
    assert await rates.convert(USD2, Asset("USD", 9), 1) == 10_000_000


async def test_fixed_rate_both_directions_and_reverse_quote() -> None:
    rates = Rates(fixed={("EUR", "JPY"): Fraction(160)}, spread=Fraction(1, 100))
    jpy = Asset("JPY", 0)
    assert await rates.convert(EUR2, jpy, 100) == 158  # 1 EUR → 160 * 0.99 = 158.4
    assert await rates.convert(jpy, EUR2, 1000) == 618  # 1000/160 EUR * 0.99 = 6.1875
    need = await rates.quote_destination(EUR2, jpy, 1000)
    assert await rates.convert(EUR2, jpy, need) >= 1000
    assert await rates.convert(EUR2, jpy, need - 1) < 1000


async def test_no_rate_without_holdings_or_pair() -> None:
    with pytest.raises(InsufficientLiquidityError):
        await Rates().convert(USD2, EUR2, 100)
    with pytest.raises(InsufficientLiquidityError):
        await Rates(Fixed(USD=1000)).convert(USD2, EUR2, 100)
    with pytest.raises(InvalidValueError):
        Rates(spread=Fraction(1))
    with pytest.raises(InvalidValueError):
        Rates(fixed={("A", "B"): Fraction(0)})


async def test_cannot_quote_more_than_held() -> None:
    rates = Rates(Fixed(USD=1000, EUR=900))
    with pytest.raises(InsufficientLiquidityError):
        await rates.quote_destination(USD2, EUR2, 90_000)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 10**12),
    st.integers(1, 10**6),
    st.integers(1, 10**6),
    st.integers(0, 99),
    st.integers(0, 12),
    st.integers(0, 12),
)
def test_reverse_quote_is_the_smallest_sufficient_amount(
    wanted: int, h_a: int, h_b: int, spread_pct: int, sa: int, sb: int
) -> None:
    a, b = Asset("A", sa), Asset("B", sb)
    spread = Fraction(spread_pct, 100)
    if Fraction(wanted, 10**sb) >= h_b:
        return
    need = pool_in(wanted, a, b, Fraction(h_a), Fraction(h_b), spread)
    assert pool_out(need, a, b, Fraction(h_a), Fraction(h_b), spread) >= wanted
    if need > 0:
        assert pool_out(need - 1, a, b, Fraction(h_a), Fraction(h_b), spread) < wanted


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**15), st.integers(1, 10**9), st.integers(1, 10**9))
def test_never_pays_out_the_whole_pool_and_rounds_down(amount: int, h_a: int, h_b: int) -> None:
    out = pool_out(amount, USD2, EUR6, Fraction(h_a), Fraction(h_b), Fraction(0))
    assert out < h_b * 10**6
    exact = Fraction(h_b) * Fraction(amount, 100) / (h_a + Fraction(amount, 100)) * 10**6
    assert out <= exact < out + 1


async def test_holdings_follow_final_balances() -> None:
    store = MemoryStore()
    accounts = {
        "alice": AccountSettings(
            id="alice", relation=Relation.CHILD, asset_code="USD", asset_scale=2
        ),
        "bob": AccountSettings(id="bob", relation=Relation.PEER, asset_code="EUR", asset_scale=6),
    }
    holdings = BalanceHoldings(store, accounts, {"USD": Fraction(1000), "EUR": Fraction(900)})
    rates = Rates(holdings)
    first = await rates.spot_rate(USD2, EUR6)
    assert first == Fraction(900, 1000) * 10**4
    # A fulfilled sale: alice +10 USD, bob -8.89 EUR.
    await store.reserve_incoming("p", "alice", 1000, None, T0)
    assert await holdings.holdings("USD") == 1000  # in flight: not counted yet
    await store.begin_packet(
        InFlight("p", "alice", 1000, "bob", 8_890_000, bytes(32), T0, T0), None
    )
    assert await holdings.holdings("EUR") == Fraction(900) - Fraction(889, 100)
    await store.finish_packet("p", PacketState.FULFILLED)
    assert await holdings.holdings("USD") == 1010
    assert await rates.spot_rate(USD2, EUR6) < first
