"""Sender deposits: what covers the connector's on-ledger costs of payments that roll back.

A sender deposits by a plain ledger transfer to the connector's account on its ledger (the
ledger worker sees it; every transfer received counts as a deposit of its sender). The
deposit is not spent on payments. Each incoming escrow holds, from the deposit, what its
roll-back would cost the connector (the fee of the escrow the connector makes on the next
ledger, priced in the sender's asset). If the payment is fulfilled the hold is released;
if both escrows roll back after the connector escrowed onwards, the hold becomes a charge.
A sender whose remaining deposit cannot cover the hold (or is zero) is refused with
`DepositRequiredError` (T04) and its escrow is left to roll back. The sender can read its
deposit and charges and withdraw what is left (minus the ledger fee of the withdrawal
transfer), always to its own account.

Entries live in SQLite, keyed by transfer id, escrow id or withdrawal id, so a replayed
notification changes nothing.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog

from ilpnet.connector.connector import Connector
from ilpnet.connector.rates import Asset
from ilpnet.ledger import errors as ledger_errors
from ilpnet.ledger.models import Transfer
from ilpnet.links.escrow_book import IncomingEscrow, OutgoingEscrow, OutgoingState
from ilpnet.links.ledger_escrow import LedgerEscrowLink
from ilpnet.links.sqlite_journal import open_journal
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Prepare

log = structlog.get_logger(__name__)


class DepositRequiredError(IlpError):
    """T04: the sender's deposit cannot cover what a roll-back of this payment would cost."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.T04_INSUFFICIENT_LIQUIDITY, message)


class WithdrawalError(Exception):
    """A withdrawal that cannot be made (nothing left, unknown ledger)."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS deposit_entries (
    key TEXT PRIMARY KEY, link TEXT NOT NULL, account TEXT NOT NULL,
    kind TEXT NOT NULL, amount TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'done');
CREATE INDEX IF NOT EXISTS deposit_entries_by_account ON deposit_entries (link, account);
"""


@dataclass(frozen=True, slots=True)
class Charge:
    escrow_id: str
    amount: int


@dataclass(frozen=True, slots=True)
class DepositAccount:
    """One sender's deposit at the connector, on one ledger, in that ledger's units."""

    link: str
    account: str
    deposited: int = 0
    charged: int = 0
    withdrawn: int = 0
    held: int = 0
    charges: tuple[Charge, ...] = ()

    @property
    def available(self) -> int:
        return self.deposited - self.charged - self.withdrawn - self.held

    def to_json(self) -> dict[str, object]:
        return {
            "ledger": self.link,
            "account": self.account,
            "deposited": str(self.deposited),
            "charged": str(self.charged),
            "withdrawn": str(self.withdrawn),
            "held": str(self.held),
            "available": str(self.available),
            "charges": [{"escrow": c.escrow_id, "amount": str(c.amount)} for c in self.charges],
        }


class DepositBook:
    """Deposit entries per (ledger link, sender account)."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = open_journal(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def account(self, link: str, account: str) -> DepositAccount:
        rows = self._db.execute(
            "SELECT key, kind, amount FROM deposit_entries WHERE link = ? AND account = ? "
            "ORDER BY rowid",
            (link, account),
        ).fetchall()
        sums = {"deposit": 0, "charge": 0, "withdrawal": 0, "hold": 0}
        charges = []
        for key, kind, amount in rows:
            sums[kind] += int(amount)
            if kind == "charge":
                charges.append(Charge(str(key).removeprefix("escrow:"), int(amount)))
        return DepositAccount(
            link,
            account,
            deposited=sums["deposit"],
            charged=sums["charge"],
            withdrawn=sums["withdrawal"],
            held=sums["hold"],
            charges=tuple(charges),
        )

    def add(self, key: str, link: str, account: str, kind: str, amount: int) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO deposit_entries (key, link, account, kind, amount) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, link, account, kind, str(amount)),
        )
        return cur.rowcount == 1

    def hold(self, key: str, link: str, account: str, amount: int) -> DepositAccount:
        """Hold `amount` if the deposit covers it (and is not empty); the account after."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute("SELECT 1 FROM deposit_entries WHERE key = ?", (key,)).fetchone():
                self._db.execute("COMMIT")
                return self.account(link, account)
            before = self.account(link, account)
            if before.available <= 0 or before.available < amount:
                self._db.execute("ROLLBACK")
                raise DepositRequiredError(
                    f"deposit used up. account={account} available={before.available} "
                    f"needed={max(amount, 1)}; pay a deposit to the connector first"
                )
            self.add(key, link, account, "hold", amount)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        return self.account(link, account)

    def settle_hold(self, key: str, charge: bool) -> int:
        """Turn a hold into a charge (or drop it); returns what was charged."""
        row = self._db.execute(
            "SELECT amount FROM deposit_entries WHERE key = ? AND kind = 'hold'", (key,)
        ).fetchone()
        if row is None:
            return 0
        amount = int(row[0])
        if charge and amount > 0:
            self._db.execute("UPDATE deposit_entries SET kind = 'charge' WHERE key = ?", (key,))
            return amount
        self._db.execute("DELETE FROM deposit_entries WHERE key = ?", (key,))
        return 0

    def pending_withdrawals(self) -> list[tuple[str, str, str, int]]:
        rows = self._db.execute(
            "SELECT key, link, account, amount FROM deposit_entries "
            "WHERE kind = 'withdrawal' AND state = 'pending'"
        ).fetchall()
        return [(str(k), str(li), str(a), int(am)) for k, li, a, am in rows]

    def start_withdrawal(self, key: str, link: str, account: str, fee: int) -> int:
        """Reserve everything left; returns the amount the sender will receive."""
        self._db.execute("BEGIN IMMEDIATE")
        left = self.account(link, account).available
        if left <= fee:
            self._db.execute("ROLLBACK")
            raise WithdrawalError(
                f"nothing to withdraw. account={account} available={left} ledger_fee={fee}"
            )
        self._db.execute(
            "INSERT INTO deposit_entries (key, link, account, kind, amount, state) "
            "VALUES (?, ?, ?, 'withdrawal', ?, 'pending')",
            (key, link, account, str(left)),
        )
        self._db.execute("COMMIT")
        return left - fee

    def finish_withdrawal(self, key: str) -> None:
        self._db.execute("UPDATE deposit_entries SET state = 'done' WHERE key = ?", (key,))


class DepositDesk:
    """The connector's `EscrowGate`: deposits, holds, charges and withdrawals."""

    def __init__(
        self, connector: Connector, book: DepositBook, links: Mapping[str, LedgerEscrowLink]
    ) -> None:
        self.connector = connector
        self.book = book
        self.links = links

    async def rollback_cost(self, link_id: str, destination: str) -> int:
        """What a roll-back would cost the connector, in `link_id`'s units (rounded up)."""
        found = self.connector.routing_table.lookup(destination)
        if found is None:
            return 0
        out_link = self.links.get(found.next_hop)
        if out_link is None or out_link.info is None or out_link.info.fee == 0:
            return 0
        src = self.connector.accounts[link_id]
        dst = self.connector.accounts[found.next_hop]
        return await self.connector.rates.quote_destination(
            Asset(src.asset_code, src.asset_scale),
            Asset(dst.asset_code, dst.asset_scale),
            out_link.info.fee,
        )

    # ---- EscrowGate ---------------------------------------------------------------------

    async def admit(self, escrow: IncomingEscrow, prepare: Prepare) -> None:
        cost = await self.rollback_cost(escrow.ledger, prepare.destination)
        after = self.book.hold(f"escrow:{escrow.escrow_id}", escrow.ledger, escrow.sender, cost)
        log.info(
            "deposit.held",
            ledger=escrow.ledger,
            account=escrow.sender,
            escrow=escrow.escrow_id,
            amount=cost,
            available=after.available,
        )

    async def finished(
        self, escrow: IncomingEscrow, fulfilled: bool, outgoing: OutgoingEscrow | None
    ) -> None:
        # charged only when the connector's own escrow rolled back too, after it paid a fee
        rolled_back = (
            outgoing is not None
            and bool(outgoing.escrow_id)
            and outgoing.fee > 0
            and outgoing.state is OutgoingState.EXPIRED
        )
        charged = self.book.settle_hold(
            f"escrow:{escrow.escrow_id}", charge=not fulfilled and rolled_back
        )
        if charged:
            log.info(
                "deposit.charged",
                ledger=escrow.ledger,
                account=escrow.sender,
                escrow=escrow.escrow_id,
                amount=charged,
            )

    async def deposited(self, link: str, transfer: Transfer) -> None:
        if self.book.add(
            f"transfer:{transfer.id}", link, transfer.sender, "deposit", transfer.amount
        ):
            log.info(
                "deposit.received", ledger=link, account=transfer.sender, amount=transfer.amount
            )

    # ---- the sender's side --------------------------------------------------------------

    def account(self, link: str, account: str) -> DepositAccount:
        if link not in self.links:
            raise WithdrawalError(f"unknown ledger {link!r}")
        return self.book.account(link, account)

    async def withdraw(self, link_id: str, account: str) -> int:
        """Pay the sender what is left of its deposit (minus the transfer fee)."""
        link = self.links.get(link_id)
        if link is None or link.info is None:
            raise WithdrawalError(f"unknown ledger {link_id!r}")
        key = f"withdraw:{uuid.uuid4().hex}"
        amount = self.book.start_withdrawal(key, link_id, account, link.info.fee)
        await self._pay(key, link, account, amount)
        return amount

    async def _pay(self, key: str, link: LedgerEscrowLink, account: str, amount: int) -> None:
        try:
            await link.client.transfer(account, amount, request_id=key)
        except (aiohttp.ClientError, TimeoutError, OSError, ledger_errors.InternalError):
            log.warning("deposit.withdrawal_retry_later", key=key)
            raise
        self.book.finish_withdrawal(key)
        log.info("deposit.withdrawn", ledger=link.account_id, account=account, amount=amount)

    async def resume_withdrawals(self) -> None:
        """Repeat withdrawals a crash cut off (same request id: paid at most once)."""
        for key, link_id, account, total in self.book.pending_withdrawals():
            link = self.links.get(link_id)
            if link is None or link.info is None:
                continue
            await self._pay(key, link, account, total - link.info.fee)
