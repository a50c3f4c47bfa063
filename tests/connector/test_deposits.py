"""The deposit book: holds, charges and withdrawals never spend more than was deposited."""

from __future__ import annotations

from pathlib import Path

import pytest

from ilpnet.connector.deposits import DepositBook, DepositRequiredError, WithdrawalError


def test_no_deposit_no_payment() -> None:
    book = DepositBook()
    with pytest.raises(DepositRequiredError, match="available=0"):
        book.hold("escrow:1", "xrp", "alice", 0)


def test_hold_release_charge_and_withdraw(tmp_path: Path) -> None:
    book = DepositBook(tmp_path / "deposits.sqlite3")
    assert book.add("transfer:t1", "xrp", "alice", "deposit", 100)
    assert not book.add("transfer:t1", "xrp", "alice", "deposit", 100)  # replayed
    assert book.hold("escrow:1", "xrp", "alice", 30).available == 70
    assert book.hold("escrow:1", "xrp", "alice", 30).available == 70  # replayed
    assert book.hold("escrow:2", "xrp", "alice", 30).available == 40
    assert book.settle_hold("escrow:1", charge=False) == 0
    assert book.settle_hold("escrow:2", charge=True) == 30
    assert book.settle_hold("escrow:2", charge=True) == 0  # already settled
    account = book.account("xrp", "alice")
    assert (account.deposited, account.charged, account.held, account.available) == (
        100,
        30,
        0,
        70,
    )
    assert [c.escrow_id for c in account.charges] == ["2"]
    with pytest.raises(DepositRequiredError, match="needed=80"):
        book.hold("escrow:3", "xrp", "alice", 80)
    assert book.start_withdrawal("withdraw:w1", "xrp", "alice", fee=5) == 65
    assert book.pending_withdrawals() == [("withdraw:w1", "xrp", "alice", 70)]
    book.finish_withdrawal("withdraw:w1")
    assert book.pending_withdrawals() == []
    with pytest.raises(WithdrawalError, match="nothing to withdraw"):
        book.start_withdrawal("withdraw:w2", "xrp", "alice", fee=5)
    book.close()
    again = DepositBook(tmp_path / "deposits.sqlite3")  # survives a restart
    assert again.account("xrp", "alice").available == 0
    assert again.account("xrp", "bob").available == 0
