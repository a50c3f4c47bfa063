"""SQLite store, the embedded default: one file, WAL journal, every check-and-update inside
a ``BEGIN IMMEDIATE`` transaction so several processes sharing the file never race past a
limit.

Group commit: the writes asked for during one event-loop tick run in one transaction, each
in its own savepoint (so a refused one changes nothing), and every caller gets its answer
only after that transaction has committed. A commit costs far more than the statements, so
many packets in flight share one. The work runs synchronously on the event loop (tens of
microseconds per write with WAL and ``synchronous=NORMAL``, which survives a killed
process), cheaper than a hop to a worker thread; a second process holding the write lock
makes it wait up to the busy timeout.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ilpnet.connector.errors import InsufficientLiquidityError
from ilpnet.connector.store.protocols import (
    INT64_MAX,
    INT64_MIN,
    Balance,
    InFlight,
    PacketState,
    check_amount,
    check_book,
)

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS balances (
    account TEXT PRIMARY KEY,
    balance INTEGER NOT NULL DEFAULT 0,
    pending_in INTEGER NOT NULL DEFAULT 0,
    pending_out INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS packets (
    packet_id TEXT PRIMARY KEY,
    incoming_account TEXT NOT NULL,
    incoming_amount INTEGER NOT NULL,
    outgoing_account TEXT NOT NULL,
    outgoing_amount INTEGER NOT NULL,
    condition BLOB NOT NULL,
    incoming_expires_at TEXT NOT NULL,
    outgoing_expires_at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS packets_by_state ON packets (state, outgoing_expires_at);
CREATE TABLE IF NOT EXISTS settlement_keys (key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS settlement_decisions (key TEXT PRIMARY KEY, amount INTEGER NOT NULL);
"""

INSERT_PACKET = """
INSERT INTO packets (packet_id, incoming_account, incoming_amount, outgoing_account,
    outgoing_amount, condition, incoming_expires_at, outgoing_expires_at, state)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_PACKETS = """
SELECT packet_id, incoming_account, incoming_amount, outgoing_account, outgoing_amount,
    condition, incoming_expires_at, outgoing_expires_at, state
FROM packets
"""


def _time(value: datetime) -> str:
    """Fixed-width UTC text, so text order is time order."""
    if value.utcoffset() is None:
        raise ValueError("expiry times must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _packet(row: tuple[str, str, int, str, int, bytes, str, str, str]) -> InFlight:
    return InFlight(
        packet_id=row[0],
        incoming_account=row[1],
        incoming_amount=row[2],
        outgoing_account=row[3],
        outgoing_amount=row[4],
        condition=bytes(row[5]),
        incoming_expires_at=datetime.fromisoformat(row[6]),
        outgoing_expires_at=datetime.fromisoformat(row[7]),
        state=PacketState(row[8]),
    )


class SqliteStore:
    """Balances, in-flight packets and settlements in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._queue: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        with self._transaction():
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)

    async def _write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` in the next group commit; its result once that has committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self._queue.append((op, done))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        result: T = await done
        return result

    def _flush(self) -> None:
        """One transaction for every write queued this tick, each in its own savepoint (a
        refused or failed one changes nothing); callers learn their results after COMMIT."""
        self._flush_scheduled = False
        batch, self._queue = self._queue, []
        if not batch:
            return
        db = self._db
        outcomes: list[tuple[bool, Any]] = []
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for op, _ in batch:
                    db.execute("SAVEPOINT op")
                    try:
                        outcomes.append((True, op(db)))
                    except Exception as exc:
                        db.execute("ROLLBACK TO op")
                        outcomes.append((False, exc))
                    db.execute("RELEASE op")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
            if done.done():
                continue
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _book(self, db: sqlite3.Connection, account: str) -> tuple[int, int, int]:
        row = db.execute(
            "SELECT balance, pending_in, pending_out FROM balances WHERE account = ?",
            (account,),
        ).fetchone()
        if row is None:
            return (0, 0, 0)
        return (int(row[0]), int(row[1]), int(row[2]))

    def _add(
        self,
        db: sqlite3.Connection,
        account: str,
        balance: int,
        pending_in: int,
        pending_out: int,
        old: tuple[int, int, int] | None = None,
    ) -> None:
        """Add to the book (SQLite would silently turn an int64 overflow into a float);
        `old` is the book as this operation has just read it, if it has."""
        if old is None:
            old = self._book(db, account)
        check_book(old[0] + balance, old[1] + pending_in, old[2] + pending_out)
        db.execute(
            "INSERT INTO balances (account, balance, pending_in, pending_out) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance, "
            "pending_in = pending_in + excluded.pending_in, "
            "pending_out = pending_out + excluded.pending_out",
            (account, balance, pending_in, pending_out),
        )

    async def reserve_incoming(self, account: str, amount: int, maximum: int | None) -> int:
        check_amount(amount, limited=False)
        limit = INT64_MAX if maximum is None else min(maximum, INT64_MAX)

        def op(db: sqlite3.Connection) -> int:
            book = self._book(db, account)
            balance, pending_in, _ = book
            if balance + amount > limit or pending_in + amount > INT64_MAX:
                raise InsufficientLiquidityError(
                    f"exceeded maximum balance. account={account} balance={balance} "
                    f"amount={amount} maximum={limit}"
                )
            self._add(db, account, amount, amount, 0, book)
            return balance + amount

        return await self._write(op)

    async def commit_incoming(self, account: str, amount: int) -> None:
        check_amount(amount)

        def op(db: sqlite3.Connection) -> None:
            self._add(db, account, 0, -amount, 0)

        return await self._write(op)

    async def release_incoming(self, account: str, amount: int) -> None:
        check_amount(amount)

        def op(db: sqlite3.Connection) -> None:
            self._add(db, account, -amount, -amount, 0)

        return await self._write(op)

    async def get_balance(self, account: str) -> Balance:
        return Balance(account, *self._book(self._db, account))

    async def all_balances(self) -> list[Balance]:
        rows = self._db.execute(
            "SELECT account, balance, pending_in, pending_out FROM balances ORDER BY account"
        ).fetchall()
        return [Balance(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def begin_packet(self, packet: InFlight, minimum: int | None) -> None:
        check_amount(packet.incoming_amount)
        check_amount(packet.outgoing_amount, limited=False)
        limit = INT64_MIN if minimum is None else max(minimum, INT64_MIN)

        def op(db: sqlite3.Connection) -> None:
            book = self._book(db, packet.outgoing_account)
            balance, _, pending_out = book
            available = balance - pending_out
            if (
                available - packet.outgoing_amount < limit
                or pending_out + packet.outgoing_amount > INT64_MAX
            ):
                raise InsufficientLiquidityError(
                    f"exceeded minimum balance. account={packet.outgoing_account} "
                    f"available={available} amount={packet.outgoing_amount} minimum={limit}"
                )
            try:
                db.execute(
                    INSERT_PACKET,
                    (
                        packet.packet_id,
                        packet.incoming_account,
                        packet.incoming_amount,
                        packet.outgoing_account,
                        packet.outgoing_amount,
                        packet.condition,
                        _time(packet.incoming_expires_at),
                        _time(packet.outgoing_expires_at),
                        PacketState.PENDING.value,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"packet already recorded: {packet.packet_id}") from exc
            self._add(db, packet.outgoing_account, 0, 0, packet.outgoing_amount, book)

        return await self._write(op)

    async def finish_packet(self, packet_id: str, outcome: PacketState) -> bool:
        if outcome is PacketState.PENDING:
            raise ValueError("a packet cannot finish as pending")

        def op(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "UPDATE packets SET state = ? WHERE packet_id = ? AND state = ? "
                "RETURNING incoming_account, incoming_amount, outgoing_account, outgoing_amount",
                (outcome.value, packet_id, PacketState.PENDING.value),
            ).fetchone()
            if row is None:
                return False
            incoming, x, outgoing, y = str(row[0]), int(row[1]), str(row[2]), int(row[3])
            if outcome is PacketState.FULFILLED:
                self._add(db, incoming, 0, -x, 0)
                self._add(db, outgoing, -y, 0, -y)
            else:
                self._add(db, incoming, -x, -x, 0)
                self._add(db, outgoing, 0, 0, -y)
            return True

        return await self._write(op)

    async def get_packet(self, packet_id: str) -> InFlight | None:
        row = self._db.execute(SELECT_PACKETS + "WHERE packet_id = ?", (packet_id,)).fetchone()
        return None if row is None else _packet(row)

    async def pending_packets(self) -> list[InFlight]:
        rows = self._db.execute(
            SELECT_PACKETS + "WHERE state = ? ORDER BY outgoing_expires_at, packet_id",
            (PacketState.PENDING.value,),
        ).fetchall()
        return [_packet(r) for r in rows]

    async def prune_finished(self) -> int:
        def op(db: sqlite3.Connection) -> int:
            cur = db.execute("DELETE FROM packets WHERE state != ?", (PacketState.PENDING.value,))
            return cur.rowcount

        return await self._write(op)

    async def begin_settlement(
        self, account: str, threshold: int, settle_to: int, key: str | None = None
    ) -> int:
        def op(db: sqlite3.Connection) -> int:
            if key is not None:
                row = db.execute(
                    "SELECT amount FROM settlement_decisions WHERE key = ?", (key,)
                ).fetchone()
                if row is not None:
                    return int(row[0])
            balance, _, _ = self._book(db, account)
            amount = settle_to - balance
            if balance >= threshold or not 0 < amount <= INT64_MAX:
                amount = 0
            else:
                self._add(db, account, amount, 0, 0)
            if key is not None:
                db.execute(
                    "INSERT INTO settlement_decisions (key, amount) VALUES (?, ?)", (key, amount)
                )
            return amount

        return await self._write(op)

    async def settled_outgoing(
        self, account: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        check_amount(amount)
        return await self._settled(account, amount, idempotency_key)

    async def settled_incoming(
        self, account: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        check_amount(amount)
        return await self._settled(account, -amount, idempotency_key)

    async def _settled(self, account: str, delta: int, key: str | None) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            if key is not None:
                inserted = db.execute(
                    "INSERT OR IGNORE INTO settlement_keys (key) VALUES (?)", (key,)
                ).rowcount
                if inserted == 0:
                    return False
            self._add(db, account, delta, 0, 0)
            return True

        return await self._write(op)

    async def close(self) -> None:
        self._flush()  # writes already asked for are committed first
        self._db.close()
