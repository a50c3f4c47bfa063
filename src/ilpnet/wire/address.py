"""ILP addresses (spec 01): validation, allocation schemes, segment-aware prefix matching."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from ilpnet.wire.errors import InvalidValueError

ADDRESS_MAX_LENGTH: Final = 1023
"""Longest valid address, in bytes (an address is ASCII, so also in characters)."""

SCHEMES: Final = frozenset(
    ("g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local")
)
"""Allocation schemes, the only allowed first segments (spec 01 §2)."""

TEST_SCHEMES: Final = frozenset(("test", "test1", "test2", "test3"))
"""Schemes of test networks; a test node refuses `g.` destinations (spec 01 §2)."""

_SCHEME_RE = r"(?:g|private|example|peer|self|test[1-3]?|local)"
_SEGMENT_RE = r"[A-Za-z0-9_~-]+"
_ADDRESS = re.compile(rf"{_SCHEME_RE}(?:\.{_SEGMENT_RE})+")
_SEGMENT = re.compile(_SEGMENT_RE)

ADDRESS_BYTES_PATTERN: Final = re.compile(_ADDRESS.pattern.encode("ascii"))
"""The grammar as a bytes pattern, for decoders: `fullmatch(buf, start, end)` checks an
address inside a packet without slicing or decoding it first (length checked apart)."""


def is_valid_address(s: str) -> bool:
    """True when `s` is a complete ILP address: known scheme, one or more segments, ≤ 1023."""
    return len(s) <= ADDRESS_MAX_LENGTH and _ADDRESS.fullmatch(s) is not None


def validate_address(s: str) -> str:
    """`s` itself when valid, else `InvalidValueError` saying what is wrong with it."""
    if len(s) <= ADDRESS_MAX_LENGTH and _ADDRESS.fullmatch(s) is not None:
        return s
    raise InvalidValueError(f"invalid ILP address {_shorten(s)}: {_address_problem(s)}")


def _shorten(s: str) -> str:
    return repr(s) if len(s) <= 60 else f"{s[:40]!r}...({len(s)} chars)"


def _address_problem(s: str) -> str:
    if not s:
        return "empty"
    if len(s) > ADDRESS_MAX_LENGTH:
        return f"{len(s)} characters, at most {ADDRESS_MAX_LENGTH} allowed"
    scheme, dot, rest = s.partition(".")
    if scheme not in SCHEMES:
        return f"unknown allocation scheme {scheme!r} (one of {', '.join(sorted(SCHEMES))})"
    if not dot or not rest:
        return "needs at least one segment after the scheme"
    for i, segment in enumerate(rest.split("."), start=2):
        if not segment:
            return f"segment {i} is empty (leading, trailing or doubled dot)"
        bad = _first_bad_char(segment)
        if bad is not None:
            return f"segment {i} contains {bad!r}; allowed are A-Z a-z 0-9 _ ~ -"
    return "does not match the address grammar"  # pragma: no cover - all cases named above


def _first_bad_char(segment: str) -> str | None:
    for ch in segment:
        if _SEGMENT.fullmatch(ch) is None:
            return ch
    return None


def is_valid_segment(segment: str) -> bool:
    """True when `segment` may appear between dots: non-empty, only `A-Z a-z 0-9 _ ~ -`."""
    return _SEGMENT.fullmatch(segment) is not None


def address_scheme(s: str) -> str:
    """The allocation scheme, i.e. the first segment (`"test"` for `test.alice`).

    Works on prefixes too (`address_scheme("test") == "test"`). Only the first segment is
    checked: an unknown scheme raises `InvalidValueError`; use `validate_address` for the rest.
    """
    scheme = s.partition(".")[0]
    if scheme not in SCHEMES:
        raise InvalidValueError(f"unknown allocation scheme {scheme!r} in {_shorten(s)}")
    return scheme


def address_segments(s: str) -> list[str]:
    """The dot-separated segments, scheme first (`["test", "alice"]`)."""
    return s.split(".")


def starts_with_prefix(address: str, prefix: str) -> bool:
    """Segment-aligned prefix match (spec 01 §4): `address == prefix` or starts `prefix + "."`.

    `test.alice` matches `test.alice` and `test.alice.x`, not `test.alice2`. The empty prefix
    matches every address (a catch-all default route).
    """
    if not address.startswith(prefix):
        return False
    n = len(prefix)
    return n == len(address) or n == 0 or address[n] == "."


def address_prefixes(address: str) -> Iterator[str]:
    """Every segment-aligned prefix of `address`, longest first, down to the scheme.

    `test.a.b` gives `test.a.b`, `test.a`, `test`: the keys a longest-prefix lookup tries.
    """
    end = len(address)
    while end > 0:
        yield address[:end]
        end = address.rfind(".", 0, end)


def child_address(parent: str, segment: str) -> str:
    """`parent.segment`, e.g. the address a connector gives a child over ILDCP (spec 01 §3)."""
    validate_address(parent)
    if _SEGMENT.fullmatch(segment) is None:
        raise InvalidValueError(
            f"invalid address segment {_shorten(segment)}: "
            "must be non-empty and use only A-Z a-z 0-9 _ ~ -"
        )
    child = f"{parent}.{segment}"
    if len(child) > ADDRESS_MAX_LENGTH:
        raise InvalidValueError(
            f"child address would be {len(child)} characters, at most {ADDRESS_MAX_LENGTH}"
        )
    return child


def is_valid_prefix(prefix: str) -> bool:
    """True for a routing-table prefix: `""` (catch-all), a bare scheme, or a valid address."""
    return prefix == "" or prefix in SCHEMES or is_valid_address(prefix)
