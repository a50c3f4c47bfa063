"""The ledger accounts the dashboard acts as, and their secrets.

An account a person names in a form gets a secret derived from the dashboard's key
(HMAC-SHA256 of ledger and account), so the same name works again after a restart, and
the names it made are kept in a small file next to the key. A person who made the
account elsewhere types its secret once; that secret is kept in memory only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class WalletError(ValueError):
    """A bad account name (the message says what a name may contain)."""


def check_account_name(name: str) -> str:
    if not ACCOUNT_NAME.match(name):
        raise WalletError(
            f"account name {name!r}: use 1-64 lowercase letters, digits, '.', '_', '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class Credentials:
    ledger: str
    account: str
    secret: str = field(repr=False)


def load_or_create_key(path: Path) -> bytes:
    """The dashboard key in `path` (32 random bytes, hex), created 0600 when missing."""
    with contextlib.suppress(OSError, ValueError):
        key = bytes.fromhex(path.read_text().strip())
        if len(key) >= 16:
            return key
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return key


class Wallet:
    """Credentials for accounts on the network's ledgers, keyed by (ledger, account)."""

    def __init__(self, key: bytes, accounts_file: Path | None = None) -> None:
        if len(key) < 16:
            raise ValueError("wallet key must be at least 16 bytes")
        self._key = key
        self._file = accounts_file
        self._given: dict[tuple[str, str], str] = {}
        self._known: set[tuple[str, str]] = set()
        if accounts_file is not None:
            with contextlib.suppress(OSError, ValueError, TypeError):
                for ledger, account in json.loads(accounts_file.read_text()):
                    self._known.add((str(ledger), str(account)))

    def derived_secret(self, ledger: str, account: str) -> str:
        mac = hmac.new(self._key, f"{ledger}\n{account}".encode(), hashlib.sha256)
        return mac.hexdigest()[:40]

    def credentials(self, ledger: str, account: str, secret: str = "") -> Credentials:
        """The credentials to use: the secret given now, one given before, or the derived one."""
        check_account_name(account)
        given = secret or self._given.get((ledger, account))
        chosen = given or self.derived_secret(ledger, account)
        return Credentials(ledger, account, chosen)

    def remember(self, creds: Credentials) -> bool:
        """Record an account that worked; True when it is new to the wallet."""
        key = (creds.ledger, creds.account)
        if creds.secret != self.derived_secret(*key):
            self._given[key] = creds.secret
        if key in self._known:
            return False
        self._known.add(key)
        self._save()
        return True

    def accounts(self) -> list[Credentials]:
        return [self.credentials(ledger, account) for ledger, account in sorted(self._known)]

    def _save(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps(sorted(self._known)))
            tmp.replace(self._file)
