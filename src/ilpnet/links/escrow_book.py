"""What the ledger escrow links must remember across a crash: escrows in both directions and
each ledger worker's notification cursor.

One `EscrowBook` is shared by every escrow link of a connector (one SQLite file; ``:memory:``
for tests). Each write is one transaction, done before the ledger worker moves its cursor
past the event that caused it, so a crash never loses an event and replaying one is
harmless (every insert is keyed by the escrow id or a request id derived from it).

Incoming escrow (to the connector): RECEIVED → FORWARDED → FULFILLING → FULFILLED, or
REFUSED / REJECTED, and EXPIRED when the ledger rolls it back.
Outgoing escrow (from the connector), keyed by its ledger request id: INTENT (written before
the ledger call, so a restart repeats the call with the same id) → PENDING → FULFILLED or
EXPIRED; FAILED when the ledger refused to create it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ilpnet.ledger.models import from_millis, to_millis
from ilpnet.links.sqlite_journal import open_journal


class IncomingState(StrEnum):
    RECEIVED = "received"
    FORWARDED = "forwarded"
    FULFILLING = "fulfilling"
    FULFILLED = "fulfilled"
    REFUSED = "refused"
    """Never forwarded (bad memo, no deposit): left to roll back."""
    REJECTED = "rejected"
    """Forwarded, answered with a Reject: left to roll back."""
    EXPIRED = "expired"


FINAL_INCOMING = frozenset({IncomingState.FULFILLED, IncomingState.EXPIRED})


class OutgoingState(StrEnum):
    INTENT = "intent"
    PENDING = "pending"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IncomingEscrow:
    """An escrow some sender made to the connector's account on `ledger`."""

    escrow_id: str
    ledger: str
    """The link's account id (one per ledger)."""
    sender: str
    amount: int
    condition: bytes
    expires_at: datetime
    destination: str = ""
    state: IncomingState = IncomingState.RECEIVED
    code: str = ""
    message: str = ""
    preimage: bytes | None = None
    out_key: str = ""
    """The request id of the outgoing escrow this one paid for ("" when none)."""


@dataclass(frozen=True, slots=True)
class OutgoingEscrow:
    """An escrow the connector made (or is about to make) on `ledger`."""

    key: str
    """The ledger request id: repeating the create with it is harmless."""
    ledger: str
    receiver: str
    amount: int
    condition: bytes
    expires_at: datetime
    memo: bytes
    source: str = ""
    """`<ledger>:<escrow id>` of the incoming escrow it pays for ("" if none)."""
    state: OutgoingState = OutgoingState.INTENT
    escrow_id: str = ""
    fee: int = 0
    preimage: bytes | None = None
    message: str = ""


SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (ledger TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS incoming (
    ledger TEXT NOT NULL, escrow_id TEXT NOT NULL, sender TEXT NOT NULL,
    amount TEXT NOT NULL, condition BLOB NOT NULL, expires_ms INTEGER NOT NULL,
    destination TEXT NOT NULL, state TEXT NOT NULL, code TEXT NOT NULL,
    message TEXT NOT NULL, preimage BLOB, out_key TEXT NOT NULL,
    PRIMARY KEY (ledger, escrow_id));
CREATE TABLE IF NOT EXISTS outgoing (
    key TEXT PRIMARY KEY, ledger TEXT NOT NULL, receiver TEXT NOT NULL,
    amount TEXT NOT NULL, condition BLOB NOT NULL, expires_ms INTEGER NOT NULL,
    memo BLOB NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL, escrow_id TEXT NOT NULL,
    fee TEXT NOT NULL, preimage BLOB, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outgoing_by_escrow ON outgoing (ledger, escrow_id);
"""

SELECT_INCOMING = """
SELECT escrow_id, ledger, sender, amount, condition, expires_ms, destination, state,
    code, message, preimage, out_key
FROM incoming"""
INSERT_INCOMING = """
INSERT OR IGNORE INTO incoming (escrow_id, ledger, sender, amount, condition, expires_ms,
    destination, state,
    code, message, preimage, out_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
UPDATE_INCOMING = """UPDATE incoming SET state = ?, code = COALESCE(?, code),
    message = COALESCE(?, message), preimage = COALESCE(?, preimage),
    out_key = COALESCE(?, out_key)
WHERE ledger = ? AND escrow_id = ? AND state NOT IN ('fulfilled', 'expired')"""
SELECT_OUTGOING = """
SELECT key, ledger, receiver, amount, condition, expires_ms, memo, source, state,
    escrow_id, fee, preimage, message
FROM outgoing"""
INSERT_OUTGOING = """
INSERT OR IGNORE INTO outgoing (key, ledger, receiver, amount, condition, expires_ms, memo,
    source, state,
    escrow_id, fee, preimage, message)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
UPDATE_OUTGOING = """UPDATE outgoing SET state = ?, escrow_id = COALESCE(?, escrow_id),
    fee = COALESCE(?, fee), preimage = COALESCE(?, preimage),
    message = COALESCE(?, message)
WHERE key = ? AND state IN ('intent', 'pending')"""


def _incoming(row: tuple[Any, ...]) -> IncomingEscrow:
    (eid, ledger, sender, amount, cond, exp, dest, state, code, msg, pre, out_key) = row
    return IncomingEscrow(
        escrow_id=str(eid),
        ledger=str(ledger),
        sender=str(sender),
        amount=int(str(amount)),
        condition=bytes(cond),
        expires_at=from_millis(int(exp)),
        destination=str(dest),
        state=IncomingState(state),
        code=str(code),
        message=str(msg),
        preimage=bytes(pre) if pre is not None else None,
        out_key=str(out_key),
    )


def _outgoing(row: tuple[Any, ...]) -> OutgoingEscrow:
    (key, ledger, receiver, amount, cond, exp, memo, source, state, eid, fee, pre, msg) = row
    return OutgoingEscrow(
        key=str(key),
        ledger=str(ledger),
        receiver=str(receiver),
        amount=int(str(amount)),
        condition=bytes(cond),
        expires_at=from_millis(int(exp)),
        memo=bytes(memo),
        source=str(source),
        state=OutgoingState(state),
        escrow_id=str(eid),
        fee=int(str(fee)),
        preimage=bytes(pre) if pre is not None else None,
        message=str(msg),
    )


class EscrowBook:
    """SQLite-backed escrow records and worker cursors (all calls are quick local writes)."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = open_journal(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ---- cursors ------------------------------------------------------------------------

    def cursor(self, ledger: str) -> int:
        row = self._db.execute("SELECT seq FROM cursors WHERE ledger = ?", (ledger,)).fetchone()
        return int(row[0]) if row else 0

    def set_cursor(self, ledger: str, seq: int) -> None:
        self._db.execute(
            "INSERT INTO cursors VALUES (?, ?) ON CONFLICT (ledger) DO UPDATE "
            "SET seq = MAX(seq, excluded.seq)",
            (ledger, seq),
        )

    # ---- incoming -----------------------------------------------------------------------

    def add_incoming(self, e: IncomingEscrow) -> bool:
        """Record a newly seen incoming escrow; False if it was already known."""
        cur = self._db.execute(
            INSERT_INCOMING,
            (
                e.escrow_id,
                e.ledger,
                e.sender,
                str(e.amount),
                e.condition,
                to_millis(e.expires_at),
                e.destination,
                e.state.value,
                e.code,
                e.message,
                e.preimage,
                e.out_key,
            ),
        )
        return cur.rowcount == 1

    def incoming(self, ledger: str, escrow_id: str) -> IncomingEscrow | None:
        row = self._db.execute(
            SELECT_INCOMING + " WHERE ledger = ? AND escrow_id = ?",
            (ledger, escrow_id),
        ).fetchone()
        return _incoming(row) if row else None

    def open_incoming(self, ledger: str) -> list[IncomingEscrow]:
        """Incoming escrows on `ledger` not yet fulfilled or rolled back."""
        rows = self._db.execute(
            SELECT_INCOMING + " WHERE ledger = ? "
            "AND state NOT IN ('fulfilled', 'expired') ORDER BY expires_ms",
            (ledger,),
        ).fetchall()
        return [_incoming(r) for r in rows]

    def update_incoming(
        self,
        ledger: str,
        escrow_id: str,
        state: IncomingState,
        *,
        code: str | None = None,
        message: str | None = None,
        preimage: bytes | None = None,
        out_key: str | None = None,
    ) -> bool:
        """Move an incoming escrow to `state`, unless it is already final; True if moved."""
        cur = self._db.execute(
            UPDATE_INCOMING,
            (state.value, code, message, preimage, out_key, ledger, escrow_id),
        )
        return cur.rowcount == 1

    # ---- outgoing -----------------------------------------------------------------------

    def add_outgoing(self, e: OutgoingEscrow) -> OutgoingEscrow:
        """Record the intent to create an escrow; returns the stored record (the first one
        written under that key wins, so a repeat keeps the original parameters)."""
        self._db.execute(
            INSERT_OUTGOING,
            (
                e.key,
                e.ledger,
                e.receiver,
                str(e.amount),
                e.condition,
                to_millis(e.expires_at),
                e.memo,
                e.source,
                e.state.value,
                e.escrow_id,
                str(e.fee),
                e.preimage,
                e.message,
            ),
        )
        stored = self.outgoing(e.key)
        assert stored is not None
        return stored

    def outgoing(self, key: str) -> OutgoingEscrow | None:
        row = self._db.execute(SELECT_OUTGOING + " WHERE key = ?", (key,)).fetchone()
        return _outgoing(row) if row else None

    def outgoing_by_escrow(self, ledger: str, escrow_id: str) -> OutgoingEscrow | None:
        row = self._db.execute(
            SELECT_OUTGOING + " WHERE ledger = ? AND escrow_id = ?",
            (ledger, escrow_id),
        ).fetchone()
        return _outgoing(row) if row else None

    def open_outgoing(self, ledger: str) -> list[OutgoingEscrow]:
        rows = self._db.execute(
            SELECT_OUTGOING + " WHERE ledger = ? "
            "AND state IN ('intent', 'pending') ORDER BY expires_ms",
            (ledger,),
        ).fetchall()
        return [_outgoing(r) for r in rows]

    def update_outgoing(
        self,
        key: str,
        state: OutgoingState,
        *,
        escrow_id: str | None = None,
        fee: int | None = None,
        preimage: bytes | None = None,
        message: str | None = None,
    ) -> bool:
        """Move an outgoing escrow to `state` unless already final; True if moved."""
        cur = self._db.execute(
            UPDATE_OUTGOING,
            (state.value, escrow_id, None if fee is None else str(fee), preimage, message, key),
        )
        return cur.rowcount == 1
