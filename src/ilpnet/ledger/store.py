"""The ledger's SQLite store: schema, snapshot reads, and the atomic write operations.

Writes run only on the writer thread (see `commit_queue.py`), each inside a savepoint of
one `BEGIN IMMEDIATE` batch transaction, so a refused write leaves no trace and the
batch commits (WAL, synchronous=FULL) before any of its writes is acknowledged.
Reads use their own connection and see committed data only.

Idempotency: every write carries a client-chosen id, unique per account. The first
successful write records (digest of its content, its JSON response); the same id again
returns that response without doing anything; the same id with other content raises
`IdempotencyConflict`. Refused writes are not recorded, so they may be retried.

Notifications are a per-account log (`events`, sequence numbers from 1). Escrow and
transfer events and idempotency records keep a reference to their row rather than a copy
of its JSON (`render_ref` rebuilds it), which keeps the pages written per commit few.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ilpnet.crypto.claims import verify_claim
from ilpnet.ledger import errors
from ilpnet.ledger.models import (
    Books,
    ChannelState,
    EscrowState,
    Event,
    EventType,
    Json,
    LedgerInfo,
    format_time,
    from_millis,
)

MAX_BALANCE = 2**63 - 1
SCHEMA_VERSION = "2"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO totals VALUES ('minted', 0), ('fees', 0);
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    event_seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    account TEXT NOT NULL,
    id TEXT NOT NULL,
    digest BLOB NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT,
    response TEXT,
    PRIMARY KEY (account, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers (
    sender TEXT NOT NULL,
    id TEXT NOT NULL,
    receiver TEXT NOT NULL,
    amount INTEGER NOT NULL,
    fee INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (sender, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS escrows (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    amount INTEGER NOT NULL,
    condition BLOB NOT NULL,
    expires_ms INTEGER NOT NULL,
    memo BLOB NOT NULL,
    state TEXT NOT NULL,
    preimage BLOB,
    fee INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    resolved_ms INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS escrows_pending ON escrows (expires_ms) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    receiver TEXT NOT NULL,
    deposit INTEGER NOT NULL,
    paid INTEGER NOT NULL,
    settle_delay_ms INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    state TEXT NOT NULL,
    close_ms INTEGER,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS channels_closing ON channels (close_ms) WHERE state = 'closing';
CREATE TABLE IF NOT EXISTS events (
    account TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    ref TEXT,
    data TEXT,
    PRIMARY KEY (account, seq)
) WITHOUT ROWID;
"""

# Column order of `escrows` and `channels` is the order of their row tuples below.
ESCROW_BY_ID = "SELECT * FROM escrows WHERE id = ?"
ESCROWS_DUE = "SELECT * FROM escrows WHERE state = 'pending' AND expires_ms <= ?"
INSERT_ESCROW = "INSERT INTO escrows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
CHANNEL_BY_ID = "SELECT * FROM channels WHERE id = ?"
CHANNELS_DUE = "SELECT * FROM channels WHERE state = 'closing' AND close_ms <= ?"
INSERT_CHANNEL = "INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@functools.lru_cache(maxsize=4096)
def time_text(ms: int) -> str:
    """The API's text form of a ledger time in epoch milliseconds."""
    return format_time(from_millis(ms))


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(b"ilpnet.ledger.secret\x00" + secret.encode("utf-8")).digest()


def request_digest(kind: str, content: dict[str, Any]) -> bytes:
    raw = json.dumps([kind, content], sort_keys=True, separators=(",", ":"), default=_hexlify)
    return hashlib.sha256(raw.encode("utf-8")).digest()


def _hexlify(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot digest {type(value).__name__}")


def escrow_json(row: sqlite3.Row | tuple[Any, ...]) -> Json:
    (eid, sender, receiver, amount, cond, exp, memo, state, pre, fee, created, resolved) = row
    return {
        "id": eid,
        "from": sender,
        "to": receiver,
        "amount": str(amount),
        "condition": bytes(cond).hex(),
        "expires_at": time_text(exp),
        "state": state,
        "fee": str(fee),
        "created_at": time_text(created),
        "memo": base64.b64encode(bytes(memo)).decode("ascii"),
        "preimage": bytes(pre).hex() if pre is not None else None,
        "resolved_at": time_text(resolved) if resolved is not None else None,
    }


def escrow_as_created(row: sqlite3.Row | tuple[Any, ...]) -> Json:
    """The escrow as it was when created (what its creation answered and notified)."""
    return escrow_json((*row[:7], EscrowState.PENDING.value, None, row[9], row[10], None))


def transfer_json(row: sqlite3.Row | tuple[Any, ...]) -> Json:
    sender, tid, receiver, amount, fee, created = row
    return {
        "id": tid,
        "from": sender,
        "to": receiver,
        "amount": str(amount),
        "fee": str(fee),
        "created_at": time_text(created),
    }


def render_ref(conn: sqlite3.Connection, kind: str, ref: str) -> Json:
    """Rebuild a stored answer or event body from the row it refers to.

    Escrows and transfers are immutable apart from an escrow's one final state change,
    so their JSON need not be stored again with every event and idempotency record.
    """
    if kind in ("transfer", EventType.TRANSFER_SENT, EventType.TRANSFER_RECEIVED):
        sender, _, tid = ref.partition("/")
        row = conn.execute(
            "SELECT * FROM transfers WHERE sender = ? AND id = ?", (sender, tid)
        ).fetchone()
        transfer = transfer_json(row)
        return transfer if kind == "transfer" else {"transfer": transfer}
    row = conn.execute(ESCROW_BY_ID, (ref,)).fetchone()
    if kind == "escrow":
        return escrow_as_created(row)
    if kind == "fulfil":
        return escrow_json(row)
    if kind == EventType.ESCROW_CREATED:
        return {"escrow": escrow_as_created(row)}
    if kind in (EventType.ESCROW_FULFILLED, EventType.ESCROW_EXPIRED):
        return {"escrow": escrow_json(row)}
    raise ValueError(f"no reference rendering for {kind!r}")


def new_object_id(now_ms: int) -> str:
    """32 hex digits, time-ordered (new rows go at the end of the table's b-tree)."""
    return f"{now_ms:012x}{secrets.token_hex(10)}"


def channel_json(row: sqlite3.Row | tuple[Any, ...]) -> Json:
    (cid, sender, receiver, deposit, paid, delay, key, state, close_ms, created) = row
    return {
        "id": cid,
        "from": sender,
        "to": receiver,
        "deposit": str(deposit),
        "paid": str(paid),
        "settle_delay_ms": delay,
        "public_key": bytes(key).hex(),
        "state": state,
        "created_at": time_text(created),
        "close_at": time_text(close_ms) if close_ms is not None else None,
    }


@dataclass(slots=True)
class Tx:
    """What one write operation sees: the connection, the batch time and emitted events.

    With `seqs` (the optimistic pass of a batch, see `LedgerStore.stage`) accounts' event
    counters are kept here and written back once per batch by `flush_seqs`."""

    conn: sqlite3.Connection
    now_ms: int
    events: list[Event] = field(default_factory=list)
    deadline_changed: bool = False
    seqs: dict[str, int] | None = None

    def _next_seq(self, account: str) -> int:
        if self.seqs is None:
            row = self.conn.execute(
                "UPDATE accounts SET event_seq = event_seq + 1 WHERE name = ? RETURNING event_seq",
                (account,),
            ).fetchone()
            return int(row[0])
        seq = self.seqs.get(account)
        if seq is None:
            (seq,) = self.conn.execute(
                "SELECT event_seq FROM accounts WHERE name = ?", (account,)
            ).fetchone()
        seq = int(seq) + 1
        self.seqs[account] = seq
        return seq

    def flush_seqs(self) -> None:
        if self.seqs:
            self.conn.executemany(
                "UPDATE accounts SET event_seq = ? WHERE name = ?",
                [(seq, name) for name, seq in self.seqs.items()],
            )

    def emit(
        self, accounts: tuple[str, ...], kind: EventType, data: Json, ref: str | None = None
    ) -> None:
        """Append one event to the log of each of `accounts` (the data is shared). With
        `ref` the log keeps only the reference and `render_ref` rebuilds `data`."""
        raw = None if ref is not None else json.dumps(data, separators=(",", ":"))
        at = from_millis(self.now_ms)
        for account in accounts:
            seq = self._next_seq(account)
            self.conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (account, seq, kind.value, self.now_ms, ref, raw),
            )
            self.events.append(Event(account, seq, kind, at, data))


Operation = Callable[[Tx], Json]


@dataclass(slots=True)
class BatchResult:
    results: list[Json | BaseException]
    events: list[Event]
    deadline_changed: bool


class LedgerStore:
    """The durable state of one ledger. Write methods take a `Tx` (see `apply`)."""

    def __init__(self, path: Path | str, info: LedgerInfo) -> None:
        self.info = info
        self._write = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._write.execute("PRAGMA journal_mode=WAL")
        self._write.execute("PRAGMA synchronous=FULL")
        # checkpoint less often than every 1000 pages: fewer, larger copies into the db file
        self._write.execute("PRAGMA wal_autocheckpoint=10000")
        self._write.execute("PRAGMA busy_timeout=5000")
        self._write.executescript(SCHEMA)
        self._check_meta()
        self._read = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._read.execute("PRAGMA busy_timeout=5000")

    def close(self) -> None:
        self._read.close()
        self._write.close()

    def _check_meta(self) -> None:
        want = {"name": self.info.name, "asset_code": self.info.asset_code}
        want["asset_scale"] = str(self.info.asset_scale)
        have = dict(self._write.execute("SELECT key, value FROM meta").fetchall())
        if have and have.get("schema") != SCHEMA_VERSION:
            raise ValueError(
                f"database has ledger schema {have.get('schema', '1')!r}, "
                f"this ledger needs {SCHEMA_VERSION!r}"
            )
        want["schema"] = SCHEMA_VERSION
        for key, value in want.items():
            if key in have and have[key] != value:
                raise ValueError(f"database belongs to another ledger: {key}={have[key]!r}")
        self._write.executemany("INSERT OR IGNORE INTO meta VALUES (?, ?)", want.items())

    # ---- batches ----------------------------------------------------------------------

    def apply(self, ops: Sequence[Operation], now_ms: int) -> BatchResult:
        """Run `ops` in one transaction, each in its own savepoint; commit once."""
        result = self.stage(ops, now_ms)
        self.commit()
        return result

    def stage(self, ops: Sequence[Operation], now_ms: int) -> BatchResult:
        """Begin a transaction and run `ops` in it; the caller then calls `commit` (or
        `rollback`). A refused op leaves no trace while the others go ahead.

        Optimistic first: all ops run without savepoints. If any op raises, the whole
        transaction is rolled back and the batch runs again with one savepoint per op, so
        the refused op is undone alone (refusals are rare; savepoints cost statements)."""
        conn = self._write
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = Tx(conn, now_ms, seqs={})
            results: list[Json | BaseException] = [op(tx) for op in ops]
            tx.flush_seqs()
            return BatchResult(results, tx.events, tx.deadline_changed)
        except Exception:
            conn.execute("ROLLBACK")
        except BaseException:
            self.rollback()
            raise
        conn.execute("BEGIN IMMEDIATE")
        try:
            return self._stage_guarded(ops, now_ms)
        except BaseException:
            self.rollback()
            raise

    def _stage_guarded(self, ops: Sequence[Operation], now_ms: int) -> BatchResult:
        conn = self._write
        tx = Tx(conn, now_ms)
        results: list[Json | BaseException] = []
        for op in ops:
            mark = len(tx.events)
            changed = tx.deadline_changed
            conn.execute("SAVEPOINT op")
            try:
                results.append(op(tx))
            except Exception as exc:
                conn.execute("ROLLBACK TO op")
                del tx.events[mark:]
                tx.deadline_changed = changed
                results.append(exc)
            conn.execute("RELEASE op")
        return BatchResult(results, tx.events, tx.deadline_changed)

    def commit(self) -> None:
        """Commit the staged transaction: durable (fsync) when this returns."""
        try:
            self._write.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        if self._write.in_transaction:
            self._write.execute("ROLLBACK")

    # ---- reads (committed state) --------------------------------------------------------

    def secret_hash(self, name: str) -> bytes | None:
        row = self._read.execute(
            "SELECT secret_hash FROM accounts WHERE name = ?", (name,)
        ).fetchone()
        return bytes(row[0]) if row else None

    def account(self, name: str) -> Json:
        row = self._read.execute("SELECT balance FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise errors.UnknownAccount(f"no account {name!r}")
        return {"name": name, "balance": str(row[0])}

    def escrow(self, escrow_id: str) -> Json:
        row = self._read.execute(ESCROW_BY_ID, (escrow_id,)).fetchone()
        if row is None:
            raise errors.UnknownEscrow(f"no escrow {escrow_id!r}")
        return escrow_json(row)

    def channel(self, channel_id: str) -> Json:
        row = self._read.execute(CHANNEL_BY_ID, (channel_id,)).fetchone()
        if row is None:
            raise errors.UnknownChannel(f"no channel {channel_id!r}")
        return channel_json(row)

    def has_request(self, account: str, request_id: str) -> bool:
        row = self._read.execute(
            "SELECT 1 FROM requests WHERE account = ? AND id = ?", (account, request_id)
        ).fetchone()
        return row is not None

    def events(self, account: str, after: int, limit: int = 1000) -> list[Event]:
        conn = self._read
        conn.execute("BEGIN")
        try:
            rows = conn.execute(
                "SELECT seq, type, at_ms, ref, data FROM events WHERE account = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (account, after, limit),
            ).fetchall()
            return [
                Event(
                    account,
                    seq,
                    EventType(kind),
                    from_millis(at),
                    json.loads(data) if data is not None else render_ref(conn, kind, ref),
                )
                for seq, kind, at, ref, data in rows
            ]
        finally:
            conn.execute("COMMIT")

    def books(self) -> Books:
        conn = self._read
        conn.execute("BEGIN")
        try:
            totals = dict(conn.execute("SELECT key, value FROM totals").fetchall())
            (balances,) = conn.execute("SELECT COALESCE(SUM(balance), 0) FROM accounts").fetchone()
            (escrowed,) = conn.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM escrows WHERE state = 'pending'"
            ).fetchone()
            (locked,) = conn.execute(
                "SELECT COALESCE(SUM(deposit - paid), 0) FROM channels WHERE state != 'closed'"
            ).fetchone()
        finally:
            conn.execute("COMMIT")
        return Books(
            minted=int(totals["minted"]),
            balances=int(balances),
            escrowed=int(escrowed),
            channel_locked=int(locked),
            fees_burned=int(totals["fees"]),
        )

    def next_deadline_ms(self) -> int | None:
        """The earliest pending escrow expiry or channel close completion."""
        (escrow_ms,) = self._read.execute(
            "SELECT MIN(expires_ms) FROM escrows WHERE state = 'pending'"
        ).fetchone()
        (channel_ms,) = self._read.execute(
            "SELECT MIN(close_ms) FROM channels WHERE state = 'closing'"
        ).fetchone()
        found = [int(v) for v in (escrow_ms, channel_ms) if v is not None]
        return min(found) if found else None

    # ---- write helpers ------------------------------------------------------------------

    @staticmethod
    def _replay(tx: Tx, account: str, request_id: str, digest: bytes) -> Json | None:
        row = tx.conn.execute(
            "SELECT digest, kind, ref, response FROM requests WHERE account = ? AND id = ?",
            (account, request_id),
        ).fetchone()
        if row is None:
            return None
        if bytes(row[0]) != digest:
            raise errors.IdempotencyConflict(
                f"request id {request_id!r} was already used for a different request"
            )
        if row[3] is not None:
            response: Json = json.loads(row[3])
            return response
        return render_ref(tx.conn, row[1], row[2])

    @staticmethod
    def _record(
        tx: Tx,
        account: str,
        request_id: str,
        digest: bytes,
        response: Json,
        kind: str = "stored",
        ref: str | None = None,
    ) -> Json:
        """Remember a done request: its answer, or (`kind`, `ref`) for `render_ref`."""
        raw = None if ref is not None else json.dumps(response, separators=(",", ":"))
        tx.conn.execute(
            "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?)",
            (account, request_id, digest, kind, ref, raw),
        )
        return response

    @staticmethod
    def _balance(tx: Tx, name: str, role: str = "account") -> int:
        row = tx.conn.execute("SELECT balance FROM accounts WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise errors.UnknownAccount(f"no {role} account {name!r}")
        return int(row[0])

    @staticmethod
    def _add(tx: Tx, name: str, delta: int) -> None:
        tx.conn.execute("UPDATE accounts SET balance = balance + ? WHERE name = ?", (delta, name))

    @staticmethod
    def _burn(tx: Tx, fee: int) -> None:
        if fee:
            tx.conn.execute("UPDATE totals SET value = value + ? WHERE key = 'fees'", (fee,))

    def _debit(self, tx: Tx, name: str, amount: int) -> int:
        """Take `amount` plus the fee from `name`; returns the fee."""
        fee = self.info.fee
        balance = self._balance(tx, name)
        if balance < amount + fee:
            raise errors.InsufficientFunds(
                f"account {name!r} has {balance}, needs {amount + fee} "
                f"(amount {amount} + fee {fee})"
            )
        self._add(tx, name, -(amount + fee))
        self._burn(tx, fee)
        return fee

    @staticmethod
    def _credit(tx: Tx, name: str, amount: int, role: str = "account") -> None:
        # no overflow check needed: every balance is at most the total minted, which the
        # faucet keeps at or below MAX_BALANCE
        cur = tx.conn.execute(
            "UPDATE accounts SET balance = balance + ? WHERE name = ?", (amount, name)
        )
        if cur.rowcount != 1:
            raise errors.UnknownAccount(f"no {role} account {name!r}")

    # ---- write operations ---------------------------------------------------------------

    def create_account(self, tx: Tx, name: str, secret_hash: bytes) -> Json:
        row = tx.conn.execute(
            "SELECT secret_hash, balance FROM accounts WHERE name = ?", (name,)
        ).fetchone()
        if row is not None:
            if bytes(row[0]) == secret_hash:
                return {"name": name, "balance": str(row[1])}
            raise errors.AccountExists(f"account {name!r} already exists")
        tx.conn.execute(
            "INSERT INTO accounts VALUES (?, ?, 0, 0, ?)", (name, secret_hash, tx.now_ms)
        )
        return {"name": name, "balance": "0"}

    def mint(self, tx: Tx, account: str, request_id: str, amount: int) -> Json:
        digest = request_digest("faucet", {"amount": amount})
        if (done := self._replay(tx, account, request_id, digest)) is not None:
            return done
        (minted,) = tx.conn.execute("SELECT value FROM totals WHERE key = 'minted'").fetchone()
        if int(minted) + amount > MAX_BALANCE:
            raise errors.FaucetLimit("the faucet is dry: total minted would overflow")
        self._credit(tx, account, amount)
        tx.conn.execute("UPDATE totals SET value = value + ? WHERE key = 'minted'", (amount,))
        balance = self._balance(tx, account)
        response = {"name": account, "balance": str(balance), "minted": str(amount)}
        tx.emit((account,), EventType.FAUCET, {"amount": str(amount), "id": request_id})
        return self._record(tx, account, request_id, digest, response)

    def transfer(self, tx: Tx, sender: str, request_id: str, receiver: str, amount: int) -> Json:
        digest = request_digest("transfer", {"to": receiver, "amount": amount})
        if (done := self._replay(tx, sender, request_id, digest)) is not None:
            return done
        fee = self._debit(tx, sender, amount)
        self._credit(tx, receiver, amount, "receiving")
        tx.conn.execute(
            "INSERT INTO transfers VALUES (?, ?, ?, ?, ?, ?)",
            (sender, request_id, receiver, amount, fee, tx.now_ms),
        )
        response = {
            "id": request_id,
            "from": sender,
            "to": receiver,
            "amount": str(amount),
            "fee": str(fee),
            "created_at": time_text(tx.now_ms),
        }
        ref = f"{sender}/{request_id}"
        tx.emit((sender,), EventType.TRANSFER_SENT, {"transfer": response}, ref)
        tx.emit((receiver,), EventType.TRANSFER_RECEIVED, {"transfer": response}, ref)
        return self._record(tx, sender, request_id, digest, response, "transfer", ref)

    def create_escrow(
        self,
        tx: Tx,
        sender: str,
        request_id: str,
        receiver: str,
        amount: int,
        condition: bytes,
        expires_ms: int,
        memo: bytes,
    ) -> Json:
        digest = request_digest(
            "escrow",
            {
                "to": receiver,
                "amount": amount,
                "condition": condition,
                "expires_ms": expires_ms,
                "memo": hashlib.sha256(memo).digest(),
            },
        )
        if (done := self._replay(tx, sender, request_id, digest)) is not None:
            return done
        if expires_ms <= tx.now_ms:
            raise errors.EscrowExpired(
                f"escrow would expire at {time_text(expires_ms)}, "
                f"ledger time is {time_text(tx.now_ms)}"
            )
        self._balance(tx, receiver, "receiving")
        fee = self._debit(tx, sender, amount)
        escrow_id = new_object_id(tx.now_ms)
        row = (
            escrow_id,
            sender,
            receiver,
            amount,
            condition,
            expires_ms,
            memo,
            EscrowState.PENDING.value,
            None,
            fee,
            tx.now_ms,
            None,
        )
        tx.conn.execute(INSERT_ESCROW, row)
        escrow = escrow_json(row)
        tx.emit((sender, receiver), EventType.ESCROW_CREATED, {"escrow": escrow}, escrow_id)
        tx.deadline_changed = True
        return self._record(tx, sender, request_id, digest, escrow, "escrow", escrow_id)

    def fulfil_escrow(
        self, tx: Tx, account: str, request_id: str, escrow_id: str, preimage: bytes
    ) -> Json:
        digest = request_digest("fulfil", {"escrow": escrow_id, "preimage": preimage})
        if (done := self._replay(tx, account, request_id, digest)) is not None:
            return done
        row = tx.conn.execute(ESCROW_BY_ID, (escrow_id,)).fetchone()
        if row is None:
            raise errors.UnknownEscrow(f"no escrow {escrow_id!r}")
        receiver, amount, condition, expires_ms, state = row[2], row[3], row[4], row[5], row[7]
        if account != receiver:
            raise errors.Forbidden(f"only the receiver {receiver!r} may fulfil escrow {escrow_id}")
        if state == EscrowState.FULFILLED:
            raise errors.AlreadyFulfilled(f"escrow {escrow_id} is already fulfilled")
        if state == EscrowState.EXPIRED or tx.now_ms >= expires_ms:
            raise errors.EscrowExpired(f"escrow {escrow_id} expired at {time_text(expires_ms)}")
        if hashlib.sha256(preimage).digest() != bytes(condition):
            raise errors.WrongPreimage(
                f"SHA-256 of the preimage is not escrow {escrow_id}'s condition"
            )
        self._credit(tx, receiver, amount)
        tx.conn.execute(
            "UPDATE escrows SET state = 'fulfilled', preimage = ?, resolved_ms = ? WHERE id = ?",
            (preimage, tx.now_ms, escrow_id),
        )
        escrow = escrow_json(
            (*row[:7], EscrowState.FULFILLED.value, preimage, row[9], row[10], tx.now_ms)
        )
        tx.emit((row[1], receiver), EventType.ESCROW_FULFILLED, {"escrow": escrow}, escrow_id)
        tx.deadline_changed = True
        return self._record(tx, account, request_id, digest, escrow, "fulfil", escrow_id)

    def expire_due(self, tx: Tx) -> Json:
        """Roll back every escrow past expiry and complete every channel close past its delay."""
        rows = tx.conn.execute(
            ESCROWS_DUE,
            (tx.now_ms,),
        ).fetchall()
        for row in rows:
            self._add(tx, row[1], row[3])
            tx.conn.execute(
                "UPDATE escrows SET state = 'expired', resolved_ms = ? WHERE id = ?",
                (tx.now_ms, row[0]),
            )
            escrow = escrow_json((*row[:7], EscrowState.EXPIRED.value, None, *row[9:11], tx.now_ms))
            tx.emit((row[1], row[2]), EventType.ESCROW_EXPIRED, {"escrow": escrow}, row[0])
        closing = tx.conn.execute(
            CHANNELS_DUE,
            (tx.now_ms,),
        ).fetchall()
        for row in closing:
            self._finish_close(tx, row)
        return {"escrows_expired": len(rows), "channels_closed": len(closing)}

    def _finish_close(self, tx: Tx, row: tuple[Any, ...]) -> Json:
        cid, sender, receiver, deposit, paid = row[:5]
        self._add(tx, sender, deposit - paid)
        tx.conn.execute(
            "UPDATE channels SET state = 'closed', close_ms = ? WHERE id = ?", (tx.now_ms, cid)
        )
        channel = channel_json((*row[:7], ChannelState.CLOSED.value, tx.now_ms, row[9]))
        data = {"channel": channel, "refunded": str(deposit - paid)}
        tx.emit((sender, receiver), EventType.CHANNEL_CLOSED, data)
        tx.deadline_changed = True
        return channel

    def _channel_row(self, tx: Tx, channel_id: str) -> tuple[Any, ...]:
        row = tx.conn.execute(CHANNEL_BY_ID, (channel_id,)).fetchone()
        if row is None:
            raise errors.UnknownChannel(f"no channel {channel_id!r}")
        result: tuple[Any, ...] = row
        return result

    def _check_live(self, tx: Tx, row: tuple[Any, ...]) -> None:
        state, close_ms = row[7], row[8]
        if state == ChannelState.CLOSED or (
            state == ChannelState.CLOSING and close_ms is not None and tx.now_ms >= close_ms
        ):
            raise errors.ChannelClosed(f"channel {row[0]} is closed")

    def open_channel(
        self,
        tx: Tx,
        sender: str,
        request_id: str,
        receiver: str,
        amount: int,
        settle_delay_ms: int,
        public_key: bytes,
    ) -> Json:
        digest = request_digest(
            "channel",
            {"to": receiver, "amount": amount, "delay": settle_delay_ms, "key": public_key},
        )
        if (done := self._replay(tx, sender, request_id, digest)) is not None:
            return done
        self._balance(tx, receiver, "receiving")
        self._debit(tx, sender, amount)
        row = (
            new_object_id(tx.now_ms),
            sender,
            receiver,
            amount,
            0,
            settle_delay_ms,
            public_key,
            ChannelState.OPEN.value,
            None,
            tx.now_ms,
        )
        tx.conn.execute(INSERT_CHANNEL, row)
        channel = channel_json(row)
        tx.emit((sender, receiver), EventType.CHANNEL_OPENED, {"channel": channel})
        return self._record(tx, sender, request_id, digest, channel)

    def fund_channel(
        self, tx: Tx, account: str, request_id: str, channel_id: str, amount: int
    ) -> Json:
        digest = request_digest("fund", {"channel": channel_id, "amount": amount})
        if (done := self._replay(tx, account, request_id, digest)) is not None:
            return done
        row = self._channel_row(tx, channel_id)
        if account != row[1]:
            raise errors.Forbidden(f"only the sender {row[1]!r} may fund channel {channel_id}")
        self._check_live(tx, row)
        if row[7] == ChannelState.CLOSING:
            raise errors.ChannelClosing(f"channel {channel_id} is closing; open a new one")
        self._debit(tx, account, amount)
        tx.conn.execute(
            "UPDATE channels SET deposit = deposit + ? WHERE id = ?", (amount, channel_id)
        )
        channel = channel_json((*row[:3], row[3] + amount, *row[4:]))
        data = {"channel": channel, "amount": str(amount)}
        tx.emit((row[1], row[2]), EventType.CHANNEL_FUNDED, data)
        return self._record(tx, account, request_id, digest, channel)

    def redeem_claim(
        self,
        tx: Tx,
        account: str,
        request_id: str,
        channel_id: str,
        amount: int,
        signature: bytes,
        close: bool,
    ) -> Json:
        digest = request_digest(
            "claim", {"channel": channel_id, "amount": amount, "sig": signature, "close": close}
        )
        if (done := self._replay(tx, account, request_id, digest)) is not None:
            return done
        row = self._channel_row(tx, channel_id)
        sender, receiver, deposit, paid, key = row[1], row[2], row[3], row[4], bytes(row[6])
        if account != receiver:
            raise errors.Forbidden(f"only the receiver {receiver!r} may redeem channel claims")
        self._check_live(tx, row)
        if not verify_claim(key, channel_id, amount, signature):
            raise errors.BadSignature(f"claim signature does not verify for channel {channel_id}")
        if amount > deposit:
            raise errors.ClaimOverDeposit(
                f"claim of {amount} exceeds channel {channel_id}'s deposit {deposit}"
            )
        if amount <= paid and not (close and amount == paid):
            raise errors.StaleClaim(f"claim of {amount} is not above the {paid} already paid")
        credited = amount - paid
        if credited:
            self._credit(tx, receiver, credited)
            tx.conn.execute("UPDATE channels SET paid = ? WHERE id = ?", (amount, channel_id))
        updated = (*row[:4], amount, *row[5:])
        channel = channel_json(updated)
        data = {"channel": channel, "credited": str(credited)}
        tx.emit((sender, receiver), EventType.CHANNEL_CLAIMED, data)
        if close:
            channel = self._finish_close(tx, updated)
        return self._record(tx, account, request_id, digest, channel)

    def close_channel(self, tx: Tx, account: str, request_id: str, channel_id: str) -> Json:
        digest = request_digest("close", {"channel": channel_id})
        if (done := self._replay(tx, account, request_id, digest)) is not None:
            return done
        row = self._channel_row(tx, channel_id)
        sender, receiver = row[1], row[2]
        if account not in (sender, receiver):
            raise errors.Forbidden(f"account {account!r} is not a party to channel {channel_id}")
        self._check_live(tx, row)
        if account == receiver:
            channel = self._finish_close(tx, row)
        elif row[7] == ChannelState.CLOSING:
            channel = channel_json(row)
        else:
            close_ms = tx.now_ms + int(row[5])
            tx.conn.execute(
                "UPDATE channels SET state = 'closing', close_ms = ? WHERE id = ?",
                (close_ms, channel_id),
            )
            channel = channel_json((*row[:7], ChannelState.CLOSING.value, close_ms, row[9]))
            tx.emit((sender, receiver), EventType.CHANNEL_CLOSING, {"channel": channel})
            tx.deadline_changed = True
        return self._record(tx, account, request_id, digest, channel)
