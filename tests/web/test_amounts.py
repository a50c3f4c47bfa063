"""Amounts as typed in the forms, to and from smallest units, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilpnet.web.amounts import AmountError, format_amount, parse_amount


@pytest.mark.parametrize(
    ("text", "scale", "value"),
    [
        ("12.5", 6, 12_500_000),
        ("1", 0, 1),
        ("0.000000001", 9, 1),
        ("1_000", 2, 100_000),
        (" 3.10 ", 2, 310),
        ("3.1000000", 2, 310),  # trailing zeros beyond the scale are fine
        ("123456789012345678", 0, 123456789012345678),
    ],
)
def test_parse(text: str, scale: int, value: int) -> None:
    assert parse_amount(text, scale) == value


@pytest.mark.parametrize(
    ("text", "scale", "says"),
    [
        ("1.001", 2, "at most 2 decimals"),
        ("0", 6, "more than zero"),
        ("0.0", 6, "more than zero"),
        ("-1", 6, "expected a number"),
        ("1e6", 6, "expected a number"),
        ("", 6, "expected a number"),
        ("NaN", 6, "expected a number"),
        ("1.5", 0, "at most 0 decimals"),
    ],
)
def test_parse_refuses(text: str, scale: int, says: str) -> None:
    with pytest.raises(AmountError, match=says):
        parse_amount(text, scale)


def test_format() -> None:
    assert format_amount(12_500_000, 6) == "12.5"
    assert format_amount(1, 9) == "0.000000001"
    assert format_amount(-250, 2) == "-2.5"
    assert format_amount(7, 0) == "7"
    assert format_amount(3_000_000, 6) == "3"


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=10**20), st.integers(min_value=0, max_value=18))
def test_round_trip(value: int, scale: int) -> None:
    assert parse_amount(format_amount(value, scale), scale) == value
