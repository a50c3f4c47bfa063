"""Amounts as people type them ("12.5" XRP) to and from a ledger's smallest units, exactly."""

from __future__ import annotations

import re

DECIMAL = re.compile(r"^(\d{1,30})(?:\.(\d{0,18}))?$")


class AmountError(ValueError):
    """An amount that is not a positive number with at most `scale` decimals."""


def parse_amount(text: str, scale: int) -> int:
    """`"12.5"` at scale 6 → 12_500_000; no floats, too many decimals is an error."""
    raw = text.strip().replace("_", "")
    match = DECIMAL.match(raw)
    if match is None:
        raise AmountError(f"amount {text!r}: expected a number like 12 or 12.5")
    whole, frac = match.group(1), match.group(2) or ""
    frac = frac.rstrip("0")
    if len(frac) > scale:
        raise AmountError(f"amount {text!r}: at most {scale} decimals on this ledger")
    value: int = int(whole) * 10**scale + (int(frac.ljust(scale, "0")) if frac else 0)
    if value <= 0:
        raise AmountError(f"amount {text!r}: must be more than zero")
    return value


def format_amount(value: int, scale: int) -> str:
    """12_500_000 at scale 6 → "12.5"."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    if scale == 0 or frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(scale, '0').rstrip('0')}"
