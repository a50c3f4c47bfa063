"""The accounts the dashboard's forms act as."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ilpnet.web.wallet import Credentials, Wallet, WalletError, load_or_create_key


def test_the_derived_secret_is_stable_per_key_ledger_and_account(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "key")
    assert load_or_create_key(tmp_path / "key") == key
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    one, again = Wallet(key), Wallet(key)
    assert one.derived_secret("xrp", "alice") == again.derived_secret("xrp", "alice")
    assert one.derived_secret("xrp", "alice") != one.derived_secret("eth", "alice")
    assert one.derived_secret("xrp", "alice") != Wallet(b"x" * 32).derived_secret("xrp", "alice")
    assert len(one.derived_secret("xrp", "alice")) >= 32


def test_remembered_accounts_survive_a_restart_given_secrets_do_not(tmp_path: Path) -> None:
    key, file = b"k" * 32, tmp_path / "accounts.json"
    wallet = Wallet(key, file)
    assert wallet.remember(wallet.credentials("xrp", "alice")) is True
    assert wallet.remember(wallet.credentials("xrp", "alice")) is False
    wallet.remember(Credentials("eth", "carol", "carols-own-secret"))
    assert wallet.credentials("eth", "carol").secret == "carols-own-secret"
    later = Wallet(key, file)
    assert [(c.ledger, c.account) for c in later.accounts()] == [
        ("eth", "carol"),
        ("xrp", "alice"),
    ]
    assert later.credentials("xrp", "alice").secret == wallet.derived_secret("xrp", "alice")
    assert "carols-own-secret" not in file.read_text()


@pytest.mark.parametrize("name", ["", "Alice", "a b", "-a", "a" * 65, "a/b", "é"])
def test_bad_account_names_are_refused(name: str) -> None:
    with pytest.raises(WalletError, match="account name"):
        Wallet(b"k" * 32).credentials("xrp", name)
