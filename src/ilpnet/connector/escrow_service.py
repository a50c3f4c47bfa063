"""A connector serving several test ledgers with on-ledger escrows (seed steps 0 and 1).

    service = EscrowConnector(EscrowConnectorConfig(address="test.conn", ledgers=[...],
                                                    state_dir=path), clock)
    await service.start()   # links, recovery of what a crash left, workers
    ...
    await service.close()

Per ledger: one `LedgerEscrowLink` (account id = the ledger's id in the config), one
`LedgerWorker`, a static route from the ledger's ILP prefix (its name) to that account.
Rates are the constant-product pool over the connector's own on-ledger balances, so every
payment moves the price. Deposits (`DepositDesk`) gate incoming escrows. The escrow book,
deposit book and packet store live in ``state_dir`` (SQLite), so a restarted process
picks up where the killed one stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import structlog

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.deposits import DepositBook, DepositDesk
from ilpnet.connector.offledger import (
    ACCOUNT_ID as OFFLEDGER,
)
from ilpnet.connector.offledger import (
    SEGMENT,
    OffLedgerBook,
    OffLedgerDesk,
    OffLedgerLink,
    OffLedgerSettings,
)
from ilpnet.connector.pipeline import ExpiryWindow
from ilpnet.connector.rates import Rates
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import PacketState, SqliteStore, Store
from ilpnet.ledger.client import LedgerClient
from ilpnet.links.escrow_book import EscrowBook, OutgoingEscrow
from ilpnet.links.ledger_escrow import LedgerEscrowLink
from ilpnet.links.ledger_worker import LedgerWorker

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LedgerAccountConfig:
    """The connector's account on one ledger."""

    id: str
    """The connector's account id for this ledger (also the link and worker name)."""
    url: str
    account: str
    secret: str


@dataclass(frozen=True, slots=True)
class EscrowConnectorConfig:
    address: str
    ledgers: tuple[LedgerAccountConfig, ...]
    state_dir: Path | None = None
    """Where the SQLite files live; None keeps everything in memory (tests)."""
    spread: Fraction = Fraction(0)
    min_message_window: timedelta = timedelta(seconds=5)
    """Time the connector keeps between its outgoing and incoming escrow expiries."""
    max_hold_time: timedelta = timedelta(seconds=60)
    ledger_margin: timedelta = timedelta(seconds=1)
    """An outgoing escrow expires this long before the Prepare it carries."""
    fixed_rates: dict[tuple[str, str], Fraction] = field(default_factory=dict)
    offledger: OffLedgerSettings | None = None
    """Off-ledger accounts at ``<address>.off`` (None: not offered)."""
    fault: Callable[[str], None] | None = None
    """Crash-test hook handed to every link (`ilpnet.links.ledger_escrow.FAULT_POINTS`)."""


class LedgerHoldings:
    """What the connector holds of each asset: its balances on the ledgers (whole units)."""

    def __init__(self, links: dict[str, LedgerEscrowLink], clock: Clock, max_age: float) -> None:
        self.links = links
        self.clock = clock
        self.max_age = max_age
        self._cache: dict[str, Fraction] = {}
        self._at = -math.inf

    async def holdings(self, asset_code: str) -> Fraction:
        now = self.clock.monotonic()
        if now - self._at > self.max_age:
            totals: dict[str, Fraction] = {}
            for link in self.links.values():
                info = link.info
                if info is None:
                    continue
                balance = await link.client.balance()
                code = info.asset_code
                totals[code] = totals.get(code, Fraction(0)) + Fraction(
                    balance, 10**info.asset_scale
                )
            self._cache, self._at = totals, now
        return self._cache.get(asset_code, Fraction(0))

    def invalidate(self) -> None:
        self._at = -math.inf


class EscrowConnector:
    """Connector + escrow links + ledger workers + deposits, started and stopped together."""

    def __init__(self, config: EscrowConnectorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        state = config.state_dir
        if state is not None:
            state.mkdir(parents=True, exist_ok=True)
        self.book = EscrowBook(state / "escrows.sqlite3" if state else ":memory:")
        self.deposit_book = DepositBook(state / "deposits.sqlite3" if state else ":memory:")
        self.store: Store = SqliteStore(str(state / "packets.sqlite3") if state else ":memory:")
        self.offledger_book = OffLedgerBook(state / "offledger.sqlite3" if state else ":memory:")
        self.links: dict[str, LedgerEscrowLink] = {}
        self.workers: dict[str, LedgerWorker] = {}
        self._connector: Connector | None = None
        self._desk: DepositDesk | None = None
        self.offledger: OffLedgerDesk | None = None
        self.holdings = LedgerHoldings(self.links, clock, max_age=0.2)

    @property
    def connector(self) -> Connector:
        if self._connector is None:
            raise RuntimeError("escrow connector not started")
        return self._connector

    @property
    def desk(self) -> DepositDesk:
        if self._desk is None:
            raise RuntimeError("escrow connector not started")
        return self._desk

    def link_for(self, ledger: str) -> LedgerEscrowLink | None:
        """The link by account id or by the ledger's ILP prefix (name)."""
        link = self.links.get(ledger)
        if link is not None:
            return link
        for candidate in self.links.values():
            if candidate.info is not None and candidate.info.name == ledger:
                return candidate
        return None

    async def start(self) -> None:
        cfg = self.config
        for lc in cfg.ledgers:
            client = LedgerClient(lc.url, lc.account, lc.secret)
            link = LedgerEscrowLink(
                lc.id,
                client,
                self.book,
                self.clock,
                address=cfg.address,
                secret=lc.secret,
                margin=cfg.ledger_margin,
            )
            link.fault = cfg.fault
            await link.start()
            self.links[lc.id] = link
        accounts = []
        routes = []
        for link in self.links.values():
            assert link.info is not None
            accounts.append(
                AccountSettings(
                    id=link.account_id,
                    relation=Relation.PEER,
                    asset_code=link.info.asset_code,
                    asset_scale=link.info.asset_scale,
                )
            )
            routes.append(Route(link.info.name, link.account_id))
        off = cfg.offledger
        if off is not None:
            home = self.links[off.ledger].info
            assert home is not None
            accounts.append(
                AccountSettings(
                    id=OFFLEDGER,
                    relation=Relation.CHILD,
                    asset_code=home.asset_code,
                    asset_scale=home.asset_scale,
                    ilp_address_segment=SEGMENT,
                )
            )
        rates = Rates(self.holdings, spread=cfg.spread, fixed=cfg.fixed_rates)
        connector = Connector(
            cfg.address,
            accounts,
            self.store,
            self.clock,
            routes=routes,
            rates=rates,
            expiry=ExpiryWindow(cfg.min_message_window, cfg.max_hold_time),
        )
        self._connector = connector
        self._desk = DepositDesk(connector, self.deposit_book, self.links)
        for link in self.links.values():
            link.gate = self._desk
            link.peers = self.links
            link.orphan_fulfilled = self._orphan_fulfilled
            connector.attach(link)
        if off is not None:
            connector.attach(
                OffLedgerLink(self.offledger_book, f"{cfg.address}.{SEGMENT}", cfg.address)
            )
            self.offledger = OffLedgerDesk(
                off, self.offledger_book, connector, self.book, self.clock
            )
        # what a crash left: outgoing escrows first (their outcome decides the incoming)
        for link in self.links.values():
            await link.recover_outgoing()
        for link in self.links.values():
            for record in self.book.open_incoming(link.account_id):
                preimage = self.offledger_book.credited(record.out_key)
                if preimage is not None:  # paid to an off-ledger account before the crash
                    await link.complete_incoming(record.escrow_id, preimage)
        for link in self.links.values():
            await link.recover_incoming()
        await self._desk.resume_withdrawals()
        if self.offledger is not None:
            await self.offledger.recover()
        await connector.start()
        for link in self.links.values():
            worker = LedgerWorker(link, self.book)
            self.workers[link.account_id] = worker
            worker.start()
        log.info("escrow_connector.started", address=cfg.address, ledgers=list(self.links))

    async def _orphan_fulfilled(self, record: OutgoingEscrow) -> None:
        """A payment finished while no pipeline waited for it (after a restart): commit its
        in-flight packet, so the connector's books show it fulfilled, not expired."""
        for packet in await self.store.pending_packets():
            if packet.outgoing_account == record.ledger and packet.condition == record.condition:
                await self.store.finish_packet(packet.packet_id, PacketState.FULFILLED)
                log.info("escrow_connector.packet_recovered", packet=packet.packet_id)
                return

    async def close(self) -> None:
        for worker in self.workers.values():
            await worker.stop()
        if self.offledger is not None:
            await self.offledger.close()
        if self._connector is not None:
            await self._connector.close()
        for link in self.links.values():
            await link.client.close()
        await self.store.close()
        self.book.close()
        self.deposit_book.close()
        self.offledger_book.close()
