"""Off-ledger accounts at an escrow connector: sign up over HTTP, get some test money, pay
anyone on any ledger (or off-ledger), be paid, refill by paying yourself from a ledger.

The users' balances are the connector's IOUs, kept in SQLite in one asset (that of a
ledger the connector serves). Together they form one child account of the connector,
``offledger`` at ``<connector address>.off``; user ``alice`` is
``<connector address>.off.alice``.

* Sign-up gives a fixed amount of test money, at most `signups_per_window` sign-ups per
  client per window and `max_accounts` in all.
* Paying: the user's balance is debited first (T04 if short), then the Prepare goes
  through the connector's pipeline from account ``offledger``; a Reject refunds it.
* Being paid: `OffLedgerLink` is the users' receiver. It fulfils a Prepare when the
  condition follows from the user's receive key and the payment id in the data (the
  scheme of `ilpnet.crypto.receive_keys`), crediting the user once per payment.
* After a crash, payments still marked pending are settled by the state of the escrow the
  connector made for them (fulfilled: keep the debit; otherwise refund once it can no
  longer be fulfilled), and an incoming escrow whose payment was credited here is
  fulfilled with the stored preimage.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog

from ilpnet.clock import Clock
from ilpnet.connector.connector import Connector
from ilpnet.crypto.receive_keys import (
    condition_for,
    fulfillment_for,
    payment_id_of,
    receive_key_from_secret,
)
from ilpnet.links.base import IncomingHandler
from ilpnet.links.deadline import sleep_until
from ilpnet.links.escrow_book import EscrowBook, OutgoingState
from ilpnet.links.ledger_escrow import current_source, payment_source
from ilpnet.links.sqlite_journal import open_journal
from ilpnet.wire.address import is_valid_segment
from ilpnet.wire.errors import ErrorCode, IlpError
from ilpnet.wire.packet import Fulfill, Prepare, Reject

log = structlog.get_logger(__name__)

ACCOUNT_ID = "offledger"
SEGMENT = "off"


class SignupRefused(Exception):
    """A sign-up that cannot be made; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error = status, error


@dataclass(frozen=True, slots=True)
class OffLedgerSettings:
    ledger: str
    """Id of the served ledger whose asset (code and scale) the accounts hold."""
    signup_amount: int
    signups_per_window: int = 5
    window_seconds: float = 60.0
    max_accounts: int = 10_000


@dataclass(frozen=True, slots=True)
class OffLedgerUser:
    name: str
    address: str
    balance: int
    receive_key: bytes


SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, token_hash BLOB NOT NULL, receive_key BLOB NOT NULL,
    balance TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credits (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, amount TEXT NOT NULL, preimage BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, amount TEXT NOT NULL, expires_ms INTEGER NOT NULL,
    state TEXT NOT NULL);
"""


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class OffLedgerBook:
    """Users, credits and payments; every balance change is one SQLite transaction."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = open_journal(path, SCHEMA)

    def close(self) -> None:
        self._db.close()

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    def create(self, name: str, token: str, receive_key: bytes, amount: int) -> bool:
        cur = self._db.execute(
            "INSERT OR IGNORE INTO users VALUES (?, ?, ?, ?)",
            (name, _hash(token), receive_key, str(amount)),
        )
        return cur.rowcount == 1

    def user(self, name: str) -> tuple[bytes, bytes, int] | None:
        row = self._db.execute(
            "SELECT token_hash, receive_key, balance FROM users WHERE name = ?", (name,)
        ).fetchone()
        return (bytes(row[0]), bytes(row[1]), int(row[2])) if row else None

    def _add(self, name: str, delta: int) -> None:
        row = self._db.execute("SELECT balance FROM users WHERE name = ?", (name,)).fetchone()
        self._db.execute(
            "UPDATE users SET balance = ? WHERE name = ?", (str(int(row[0]) + delta), name)
        )

    def debit(self, payment_id: str, name: str, amount: int, expires_at: datetime) -> None:
        """Take `amount` for a new payment (T04 when the balance is short)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT balance FROM users WHERE name = ?", (name,)).fetchone()
            if row is None or int(row[0]) < amount:
                have = 0 if row is None else int(row[0])
                raise IlpError(
                    ErrorCode.T04_INSUFFICIENT_LIQUIDITY,
                    f"balance too low. account={name} balance={have} amount={amount}",
                )
            self._add(name, -amount)
            self._db.execute(
                "INSERT INTO payments VALUES (?, ?, ?, ?, 'pending')",
                (payment_id, name, str(amount), int(expires_at.timestamp() * 1000)),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def finish(self, payment_id: str, fulfilled: bool) -> bool:
        """End a pending payment (refund it unless fulfilled); True for the one call that did."""
        self._db.execute("BEGIN IMMEDIATE")
        row = self._db.execute(
            "SELECT name, amount FROM payments WHERE id = ? AND state = 'pending'", (payment_id,)
        ).fetchone()
        if row is None:
            self._db.execute("COMMIT")
            return False
        if not fulfilled:
            self._add(str(row[0]), int(row[1]))
        self._db.execute(
            "UPDATE payments SET state = ? WHERE id = ?",
            ("fulfilled" if fulfilled else "refunded", payment_id),
        )
        self._db.execute("COMMIT")
        return True

    def pending(self) -> list[tuple[str, int]]:
        """(payment id, expiry in ms) of every payment not yet ended."""
        rows = self._db.execute(
            "SELECT id, expires_ms FROM payments WHERE state = 'pending'"
        ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    def credit(self, key: str, name: str, amount: int, preimage: bytes) -> bool:
        """Credit a payment once per key; False if that key was already credited."""
        self._db.execute("BEGIN IMMEDIATE")
        cur = self._db.execute(
            "INSERT OR IGNORE INTO credits VALUES (?, ?, ?, ?)", (key, name, str(amount), preimage)
        )
        if cur.rowcount == 1:
            self._add(name, amount)
        self._db.execute("COMMIT")
        return cur.rowcount == 1

    def credit_of(self, key: str) -> tuple[str, int] | None:
        """(account, amount) credited under `key`, if any."""
        row = self._db.execute("SELECT name, amount FROM credits WHERE key = ?", (key,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def credited(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT preimage FROM credits WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None


class SignupLimiter:
    """At most `limit` sign-ups per client in any `window` seconds (monotonic clock)."""

    def __init__(self, clock: Clock, limit: int, window: float) -> None:
        self.clock, self.limit, self.window = clock, limit, window
        self._hits: dict[str, deque[float]] = {}

    def admit(self, client: str) -> None:
        now = self.clock.monotonic()
        hits = self._hits.setdefault(client, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            raise SignupRefused(
                429, "rate_limited", f"at most {self.limit} sign-ups per {self.window:g} s"
            )
        hits.append(now)


class OffLedgerLink:
    """The `Link` of account ``offledger``: receives payments for the off-ledger users."""

    def __init__(self, book: OffLedgerBook, prefix: str, address: str = "") -> None:
        self.book = book
        self.prefix = prefix
        """``<connector address>.off``."""
        self.address = address

    @property
    def account_id(self) -> str:
        return ACCOUNT_ID

    def set_handler(self, handler: IncomingHandler) -> None:
        """Users pay through `OffLedgerDesk.pay`, not through this link."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _reject(self, code: ErrorCode, message: str) -> Reject:
        return Reject(code.value, self.address, message)

    async def send(self, prepare: Prepare) -> Fulfill | Reject:
        destination = prepare.destination
        if not destination.startswith(self.prefix + "."):
            return self._reject(
                ErrorCode.F02_UNREACHABLE, f"not an off-ledger account: {destination}"
            )
        name = destination[len(self.prefix) + 1 :].split(".", 1)[0]
        user = self.book.user(name)
        if user is None:
            return self._reject(ErrorCode.F02_UNREACHABLE, f"no off-ledger account {name!r}")
        pid = payment_id_of(prepare.data)
        if pid is None:
            return self._reject(ErrorCode.F06_UNEXPECTED_PAYMENT, "no payment id in the data")
        fulfillment = fulfillment_for(user[1], destination, pid)
        if hashlib.sha256(fulfillment).digest() != prepare.execution_condition:
            return self._reject(
                ErrorCode.F06_UNEXPECTED_PAYMENT, "condition is not one this account issued"
            )
        source = current_source()
        key = f"out:{source}" if source else f"out:{ACCOUNT_ID}:{uuid.uuid4().hex}"
        if self.book.credit(key, name, prepare.amount, fulfillment):
            log.info("offledger.credited", account=name, amount=prepare.amount)
        return Fulfill(fulfillment)


class OffLedgerDesk:
    """Sign-ups, payments and recovery of the off-ledger accounts."""

    def __init__(
        self,
        settings: OffLedgerSettings,
        book: OffLedgerBook,
        connector: Connector,
        escrows: EscrowBook,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.book = book
        self.connector = connector
        self.escrows = escrows
        self.clock = clock
        self.prefix = f"{connector.address}.{SEGMENT}"
        self.limiter = SignupLimiter(clock, settings.signups_per_window, settings.window_seconds)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def asset(self) -> tuple[str, int]:
        account = self.connector.accounts[ACCOUNT_ID]
        return account.asset_code, account.asset_scale

    def signup(self, name: str, client: str) -> tuple[OffLedgerUser, str]:
        """Open account `name`; returns it and its token (shown once)."""
        if not is_valid_segment(name) or len(name) > 64:
            raise SignupRefused(400, "invalid_name", f"not a valid account name: {name!r}")
        if self.book.count() >= self.settings.max_accounts:
            raise SignupRefused(409, "full", "no more off-ledger accounts here")
        self.limiter.admit(client)
        token = secrets.token_hex(16)
        key = receive_key_from_secret(token)
        if not self.book.create(name, token, key, self.settings.signup_amount):
            raise SignupRefused(409, "account_exists", f"account {name!r} exists")
        log.info("offledger.signup", account=name, amount=self.settings.signup_amount)
        return OffLedgerUser(name, f"{self.prefix}.{name}", self.settings.signup_amount, key), token

    def authenticate(self, name: str, token: str) -> OffLedgerUser:
        user = self.book.user(name)
        if user is None or not hmac.compare_digest(user[0], _hash(token)):
            raise IlpError(ErrorCode.F00_BAD_REQUEST, f"no account {name!r} with that token")
        return OffLedgerUser(name, f"{self.prefix}.{name}", user[2], user[1])

    def balance(self, name: str) -> int:
        user = self.book.user(name)
        return 0 if user is None else user[2]

    def invoice(self, name: str) -> tuple[str, bytes, bytes]:
        """(destination, payment id, condition) of a fresh invoice for user `name`."""
        user = self.book.user(name)
        if user is None:
            raise IlpError(ErrorCode.F02_UNREACHABLE, f"no off-ledger account {name!r}")
        address = f"{self.prefix}.{name}"
        pid = secrets.token_bytes(16)
        return address, pid, condition_for(user[1], address, pid)

    async def pay(
        self,
        user: OffLedgerUser,
        destination: str,
        amount: int,
        condition: bytes,
        data: bytes,
        expires_in: timedelta,
    ) -> Fulfill | Reject:
        """Pay from `user`'s balance; the answer is the network's."""
        if amount <= 0:
            raise IlpError(ErrorCode.F03_INVALID_AMOUNT, "amount must be positive")
        expires_at = self.clock.now() + expires_in
        expires_at = expires_at.replace(microsecond=expires_at.microsecond // 1000 * 1000)
        prepare = Prepare(amount, expires_at, condition, destination, data)
        payment_id = uuid.uuid4().hex
        self.book.debit(payment_id, user.name, amount, expires_at)
        with payment_source(f"{ACCOUNT_ID}:{payment_id}"):
            answer = await self.connector.handle(ACCOUNT_ID, prepare)
        self.book.finish(payment_id, isinstance(answer, Fulfill))
        return answer

    async def recover(self) -> None:
        """Settle the payments a crash left pending (see the module docstring)."""
        for payment_id, expires_ms in self.book.pending():
            self._settle_later(payment_id, expires_ms)

    def _settle_later(self, payment_id: str, expires_ms: int) -> None:
        async def settle() -> None:
            out = self.escrows.outgoing(f"out:{ACCOUNT_ID}:{payment_id}")
            if out is not None and out.state is OutgoingState.PENDING:
                await sleep_until(self.clock, out.expires_at + timedelta(seconds=1))
                out = self.escrows.outgoing(out.key)
            credited = self.book.credited(f"out:{ACCOUNT_ID}:{payment_id}") is not None
            fulfilled = credited or (out is not None and out.state is OutgoingState.FULFILLED)
            self.book.finish(payment_id, fulfilled)
            log.info("offledger.recovered", payment=payment_id, fulfilled=fulfilled)

        task = asyncio.create_task(settle())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
