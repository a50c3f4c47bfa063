"""Reading and checking a JSON request body; every problem is an `InvalidRequest` (or a
more precise ledger error) naming the field."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from ilpnet.ledger.errors import InvalidAmount, InvalidRequest, PayloadTooLarge
from ilpnet.ledger.models import parse_time
from ilpnet.ledger.store import MAX_BALANCE

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
HEX_ID_RE = re.compile(r"[0-9a-f]{32}")
AMOUNT_RE = re.compile(r"[0-9]{1,19}")
MAX_MEMO = 32 * 1024


def check_name(name: str, what: str = "account name") -> str:
    if not NAME_RE.fullmatch(name):
        raise InvalidRequest(f"{what} must match [a-z0-9][a-z0-9._-]{{0,63}}, got {name!r}")
    return name


def check_object_id(raw: str, what: str) -> str:
    if not HEX_ID_RE.fullmatch(raw):
        raise InvalidRequest(f"{what} id must be 32 lowercase hex digits, got {raw[:80]!r}")
    return raw


class Body:
    """A JSON object from a request, read field by field."""

    def __init__(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise InvalidRequest("request body must be a JSON object")
        self._raw: dict[str, Any] = raw

    def _get(self, key: str) -> Any:
        if key not in self._raw:
            raise InvalidRequest(f"missing field {key!r}")
        return self._raw[key]

    def text(self, key: str, *, max_len: int = 256) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value:
            raise InvalidRequest(f"field {key!r} must be a non-empty string")
        if len(value) > max_len:
            raise InvalidRequest(f"field {key!r} is longer than {max_len} characters")
        return value

    def name(self, key: str) -> str:
        return check_name(self.text(key, max_len=64), f"field {key!r}")

    def request_id(self) -> str:
        value = self._get("id")
        if not isinstance(value, str) or not ID_RE.fullmatch(value):
            raise InvalidRequest("field 'id' must be 1-128 printable ASCII characters")
        return value

    def amount(self, key: str = "amount") -> int:
        value = self._get(key)
        if isinstance(value, str) and AMOUNT_RE.fullmatch(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidAmount(f"field {key!r} must be an integer (or a decimal string)")
        if not 0 < value <= MAX_BALANCE:
            raise InvalidAmount(f"field {key!r} must be between 1 and {MAX_BALANCE}, got {value}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidRequest(f"field {key!r} must be an integer in [{low}, {high}]")
        return value

    def hex_bytes(self, key: str, size: int) -> bytes:
        value = self._get(key)
        if not isinstance(value, str) or len(value) != 2 * size:
            raise InvalidRequest(f"field {key!r} must be {size} bytes as {2 * size} hex digits")
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise InvalidRequest(f"field {key!r} is not hex") from None

    def base64_bytes(self, key: str, max_size: int) -> bytes:
        value = self._raw.get(key, "")
        if value is None:
            return b""
        if not isinstance(value, str):
            raise InvalidRequest(f"field {key!r} must be a base64 string")
        if len(value) > (max_size + 2) // 3 * 4:
            raise PayloadTooLarge(f"field {key!r} is over {max_size} bytes")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"field {key!r} is not valid base64") from None
        if len(raw) > max_size:
            raise PayloadTooLarge(f"field {key!r} is over {max_size} bytes")
        return raw

    def time(self, key: str) -> datetime:
        value = self.text(key, max_len=64)
        try:
            return parse_time(value)
        except ValueError:
            raise InvalidRequest(f"field {key!r} must be an ISO-8601 time with timezone") from None

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._raw.get(key, default)
        if not isinstance(value, bool):
            raise InvalidRequest(f"field {key!r} must be true or false")
        return value
