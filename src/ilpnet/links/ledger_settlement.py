"""Settling a BTP peer's trustline on a common test ledger: pay there, then say so over BTP.

    settler = LedgerSettler(SettlementJournal("settlements.sqlite3"), clock)
    connector = Connector(..., settler=settler)
    settler.add_account("b", settings, link_to_b, connector.credit_settlement)
    await settler.start()       # check the ledger, retry what a previous run left unfinished

Paying (the `Settler` hooks around the connector's store raising the balance):

0. before the store is asked, journal an intent under a fresh transfer id; the store keeps
   its decision under that id, so after a crash the connector learns from the store
   whether (and by how much) the balance was raised, and the settlement is not lost;
1. record the settlement in the journal (SQLite) under that id, durably (replacing the
   intent);
2. transfer the amount to the peer's ledger account with that id as the ledger's request id
   (a retry after a crash repeats the same id, so the ledger pays once);
3. send the peer a BTP Transfer of the amount with a protocol-data entry
   `ilpnet.settlement`, JSON `{"ledger": name, "transfer_id": id, "amount": "n"}`;
4. when the peer answers, mark the settlement done. Until then it is retried with backoff,
   also after a restart.

Receiving (`SettlementReceiver`, the link's transfer handler): the notice is believed only
after our own ledger account's events show that transfer, from the peer's ledger account,
for that amount; then `credit(account, amount, key)` with a key naming the ledger transfer,
so a repeated notice credits nothing. Anything else is refused (a BTP Error; no credit).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ilpnet.clock import Clock
from ilpnet.ledger.client import LedgerClient
from ilpnet.ledger.errors import LedgerError
from ilpnet.ledger.models import EventType, Transfer
from ilpnet.links.btp import BtpLink, BtpRequestError
from ilpnet.links.sqlite_journal import open_journal
from ilpnet.wire.btp import ContentType, ProtocolData
from ilpnet.wire.errors import ErrorCode, IlpError

log = structlog.get_logger(__name__)

SETTLEMENT_PROTOCOL = "ilpnet.settlement"
"""The BTP protocol-data entry that names the ledger transfer a Transfer stands for."""

FAULT_POINTS = ("decided",)
"""Where a crash test may stop the settler: `decided` = after the store raised the balance,
before the journal holds the amount."""

EVENTS_PAGE = 1000
"""Ledger events read per request when looking for a notice's transfer."""

Credit = Callable[[str, int, str], Awaitable[bool]]
"""`connector.credit_settlement(account_id, amount, idempotency_key)`."""


class LedgerSettlementSettings(BaseModel):
    """One peer account's common ledger: where it is, our account there, the peer's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ledger: str
    """The ledger server's base URL (http:// or https://)."""
    account: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    peer_account: str = Field(min_length=1)

    @field_validator("ledger")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


# ---- the notice carried in a BTP Transfer ---------------------------------------------


def _refuse(message: str) -> IlpError:
    return IlpError(ErrorCode.F00_BAD_REQUEST, message)


@dataclass(frozen=True, slots=True)
class SettlementNotice:
    """'I paid you `amount` on ledger `ledger` with transfer `transfer_id`.'"""

    ledger: str
    transfer_id: str
    amount: int

    def __post_init__(self) -> None:
        if not self.ledger or not self.transfer_id:
            raise _refuse("settlement notice: empty ledger or transfer_id")
        if self.amount <= 0:
            raise _refuse(f"settlement notice: amount must be > 0, got {self.amount}")

    def encode(self) -> ProtocolData:
        body = {"ledger": self.ledger, "transfer_id": self.transfer_id, "amount": str(self.amount)}
        return ProtocolData(
            SETTLEMENT_PROTOCOL, ContentType.JSON, json.dumps(body, separators=(",", ":")).encode()
        )

    @classmethod
    def decode(cls, entries: tuple[ProtocolData, ...]) -> Self:
        """The notice among a Transfer's protocol data; IlpError (F00) if absent or bad."""
        entry = next((e for e in entries if e.protocol_name == SETTLEMENT_PROTOCOL), None)
        if entry is None:
            raise _refuse(f"transfer without a {SETTLEMENT_PROTOCOL!r} entry")
        try:
            body = json.loads(entry.data)
            ledger, transfer_id, raw = body["ledger"], body["transfer_id"], body["amount"]
        except (ValueError, TypeError, KeyError):
            raise _refuse("settlement notice: not JSON with ledger, transfer_id, amount") from None
        if not (isinstance(ledger, str) and isinstance(transfer_id, str) and isinstance(raw, str)):
            raise _refuse("settlement notice: ledger, transfer_id and amount must be strings")
        if not raw.isdigit() or len(raw) > 20:
            raise _refuse(f"settlement notice: amount {raw[:30]!r} is not a decimal integer")
        return cls(ledger, transfer_id, int(raw))


# ---- the journal of outgoing settlements ------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutgoingSettlement:
    """One settlement we owe or made; `paid`: the ledger transfer is known to be done."""

    transfer_id: str
    account: str
    amount: int
    paid: bool = False


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outgoing (
    transfer_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    amount INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('owed', 'paid', 'done'))
);
CREATE TABLE IF NOT EXISTS intents (key TEXT PRIMARY KEY, account TEXT NOT NULL);
"""


class SettlementJournal:
    """Outgoing settlements in SQLite, written (and committed) before each step is taken."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self._db = open_journal(path, _SCHEMA)

    def intent(self, account: str) -> str:
        """Note that a settlement of `account` is being decided; its key, a fresh transfer
        id (the ledger request id if it is paid)."""
        key = f"ilpnet-settle-{uuid.uuid4().hex}"
        self._db.execute("INSERT INTO intents VALUES (?, ?)", (key, account))
        return key

    def open_intents(self) -> list[tuple[str, str]]:
        return [
            (str(k), str(a))
            for k, a in self._db.execute("SELECT key, account FROM intents ORDER BY rowid")
        ]

    def record(self, account: str, amount: int, key: str | None = None) -> OutgoingSettlement:
        """A settlement to pay, under `key` (an intent's, which it replaces) or a fresh
        transfer id (also the ledger request id); recording a key twice changes nothing.
        An amount of 0 only closes the intent (returned with amount 0, nothing to pay)."""
        entry = OutgoingSettlement(key or f"ilpnet-settle-{uuid.uuid4().hex}", account, amount)
        with self._db:  # one transaction: the intent becomes the owed settlement
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM intents WHERE key = ?", (entry.transfer_id,))
            if amount > 0:
                self._db.execute(
                    "INSERT OR IGNORE INTO outgoing VALUES (?, ?, ?, 'owed')",
                    (entry.transfer_id, entry.account, entry.amount),
                )
        return entry

    def mark_paid(self, transfer_id: str) -> None:
        self._db.execute(
            "UPDATE outgoing SET state = 'paid' WHERE transfer_id = ? AND state = 'owed'",
            (transfer_id,),
        )

    def mark_done(self, transfer_id: str) -> None:
        self._db.execute("UPDATE outgoing SET state = 'done' WHERE transfer_id = ?", (transfer_id,))

    def unfinished(self) -> list[OutgoingSettlement]:
        rows = self._db.execute(
            "SELECT transfer_id, account, amount, state FROM outgoing WHERE state != 'done' "
            "ORDER BY rowid"
        ).fetchall()
        return [OutgoingSettlement(t, a, n, s == "paid") for t, a, n, s in rows]

    def all(self) -> list[tuple[OutgoingSettlement, bool]]:
        """Every settlement with whether it is done (oldest first)."""
        rows = self._db.execute(
            "SELECT transfer_id, account, amount, state FROM outgoing ORDER BY rowid"
        ).fetchall()
        return [(OutgoingSettlement(t, a, n, s != "owed"), s == "done") for t, a, n, s in rows]

    def close(self) -> None:
        self._db.close()


# ---- receiving ----------------------------------------------------------------------------


class SettlementReceiver:
    """Checks a peer's settlement notices against our own ledger account, then credits."""

    def __init__(
        self,
        account_id: str,
        settings: LedgerSettlementSettings,
        ledger: LedgerClient,
        credit: Credit,
        ledger_name: Callable[[], Awaitable[str]],
    ) -> None:
        self.account_id = account_id
        self.settings = settings
        self._ledger = ledger
        self._credit = credit
        self._ledger_name = ledger_name
        self._from_peer: dict[str, Transfer] = {}
        """Transfers our ledger account received from the peer's, by id."""
        self._after = 0
        self._scan = asyncio.Lock()
        self.refused = asyncio.Event()
        """Set once a notice was refused because the ledger does not show its transfer."""

    async def handle(self, amount: int, protocol_data: tuple[ProtocolData, ...]) -> None:
        """The link's transfer handler: returns once credited; raises IlpError to refuse."""
        notice = SettlementNotice.decode(protocol_data)
        if amount != notice.amount:
            raise _refuse(f"BTP amount {amount} differs from the notice's {notice.amount}")
        try:
            name = await self._ledger_name()
            if notice.ledger != name:
                raise _refuse(f"unknown ledger {notice.ledger!r}; we settle on {name!r}")
            transfer = await self._find(notice.transfer_id)
        except (LedgerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise IlpError(
                ErrorCode.T00_INTERNAL_ERROR, f"cannot check the ledger: {exc}"
            ) from None
        if transfer is None:
            self.refused.set()
            log.warning(
                "settlement.refused", account=self.account_id, transfer_id=notice.transfer_id
            )
            raise _refuse(
                f"no transfer {notice.transfer_id!r} from {self.settings.peer_account!r} "
                f"to {self.settings.account!r} on {name!r}"
            )
        if transfer.amount != notice.amount:
            raise _refuse(f"transfer {transfer.id!r} is for {transfer.amount}, not {amount}")
        key = f"ledger:{name}:{transfer.sender}:{transfer.id}"
        credited = await self._credit(self.account_id, transfer.amount, key)
        log.info(
            "settlement.received",
            account=self.account_id,
            amount=transfer.amount,
            transfer_id=transfer.id,
            credited=credited,
        )

    async def _find(self, transfer_id: str) -> Transfer | None:
        """The transfer from the peer's ledger account to ours with this id, if there is one."""
        if (found := self._from_peer.get(transfer_id)) is not None:
            return found
        async with self._scan:
            while True:
                page = await self._ledger.events_page(self._after, EVENTS_PAGE)
                for event in page:
                    self._after = max(self._after, event.seq)
                    transfer = event.transfer
                    if (
                        event.type is EventType.TRANSFER_RECEIVED
                        and transfer is not None
                        and transfer.sender == self.settings.peer_account
                        and transfer.receiver == self.settings.account
                    ):
                        self._from_peer[transfer.id] = transfer
                if len(page) < EVENTS_PAGE:
                    break
        return self._from_peer.get(transfer_id)


# ---- paying -------------------------------------------------------------------------------


@dataclass
class _Peer:
    settings: LedgerSettlementSettings
    link: BtpLink
    ledger: LedgerClient
    receiver: SettlementReceiver


class LedgerSettler:
    """The connector's `Settler` for BTP peers that share a test ledger with us."""

    def __init__(
        self,
        journal: SettlementJournal,
        clock: Clock,
        *,
        retry_initial: float = 0.2,
        retry_max: float = 30.0,
    ) -> None:
        self.journal = journal
        self._clock = clock
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._peers: dict[str, _Peer] = {}
        self._names: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.fault: Callable[[str], None] | None = None
        """Crash tests only: called at each point of `FAULT_POINTS` as it is reached."""

    def add_account(
        self,
        account_id: str,
        settings: LedgerSettlementSettings,
        link: BtpLink,
        credit: Credit,
    ) -> SettlementReceiver:
        """Settle `account_id` on `settings.ledger` over `link`, and accept its notices."""
        ledger = LedgerClient(settings.ledger, settings.account, settings.secret)

        async def ledger_name() -> str:
            return await self._ledger_name(settings.ledger, ledger)

        receiver = SettlementReceiver(account_id, settings, ledger, credit, ledger_name)
        link.set_transfer_handler(receiver.handle)
        self._peers[account_id] = _Peer(settings, link, ledger, receiver)
        return receiver

    async def _ledger_name(self, url: str, ledger: LedgerClient) -> str:
        if (name := self._names.get(url)) is None:
            name = (await ledger.info()).name
            self._names[url] = name
        return name

    async def check(self, account_id: str, asset_code: str, asset_scale: int) -> None:
        """Make sure our ledger account exists and the ledger's asset is the account's;
        ValueError naming the account if not (LedgerError / OSError if unreachable)."""
        peer = self._peers[account_id]
        info = await peer.ledger.info()
        self._names[peer.settings.ledger] = info.name
        if (info.asset_code, info.asset_scale) != (asset_code, asset_scale):
            raise ValueError(
                f"accounts.{account_id}.settlement.ledger: {info.name} holds "
                f"{info.asset_code}/{info.asset_scale}, the account is {asset_code}/{asset_scale}"
            )
        await peer.ledger.create_account(peer.settings.account, peer.settings.secret)

    def start(self) -> int:
        """Resume the settlements a previous run left unfinished; returns how many."""
        unfinished = self.journal.unfinished()
        for entry in unfinished:
            log.info("settlement.resumed", account=entry.account, transfer_id=entry.transfer_id)
            self._spawn(self._complete(entry))
        return len(unfinished)

    def intent(self, account_id: str) -> str:
        """`Settler.intent`: journal that a settlement of `account_id` is being decided."""
        return self.journal.intent(account_id)

    def open_intents(self) -> list[tuple[str, str]]:
        """`Settler.open_intents`: intents a crash left without an amount."""
        return self.journal.open_intents()

    async def settle(self, account_id: str, amount: int, key: str) -> None:
        """`Settler.settle`: pay `amount` to the peer of `account_id` and tell it."""
        if self.fault is not None and amount > 0:
            self.fault("decided")  # the store raised the balance; the journal has no amount
        entry = self.journal.record(account_id, amount, key)
        if amount <= 0:
            return
        if account_id not in self._peers:
            log.error("settlement.no_ledger", account=account_id, amount=amount)
            return
        await self._complete(entry)

    async def _complete(self, entry: OutgoingSettlement) -> None:
        delay = self._retry_initial
        paid = entry.paid
        while True:
            peer = self._peers.get(entry.account)
            if peer is None:
                log.error("settlement.account_gone", account=entry.account, id=entry.transfer_id)
                return
            try:
                if not paid:
                    await peer.ledger.transfer(
                        peer.settings.peer_account, entry.amount, request_id=entry.transfer_id
                    )
                    self.journal.mark_paid(entry.transfer_id)
                    paid = True
                    log.info(
                        "settlement.paid",
                        account=entry.account,
                        amount=entry.amount,
                        transfer_id=entry.transfer_id,
                    )
                name = await self._ledger_name(peer.settings.ledger, peer.ledger)
                notice = SettlementNotice(name, entry.transfer_id, entry.amount)
                await peer.link.send_transfer(entry.amount, (notice.encode(),))
                self.journal.mark_done(entry.transfer_id)
                log.info("settlement.notified", account=entry.account, id=entry.transfer_id)
                return
            except (LedgerError, BtpRequestError, aiohttp.ClientError, OSError, TimeoutError) as e:
                # Unreachable ledger or peer, a refused notice, too little money: try again
                # later with the same transfer id (RFC 0038 §4.4: retry until definitive).
                log.warning(
                    "settlement.retry",
                    account=entry.account,
                    transfer_id=entry.transfer_id,
                    paid=paid,
                    error=str(e),
                    delay=delay,
                )
            await self._clock.sleep(delay)
            delay = min(delay * 2, self._retry_max)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the resumed settlements under way."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Stop retrying (the journal keeps what is unfinished) and close the ledger clients."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for peer in self._peers.values():
            await peer.ledger.close()
        self.journal.close()
