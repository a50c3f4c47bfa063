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
from ilpnet.connector.escrow_ledgers import EscrowLedgers, LedgerAccountConfig
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
from ilpnet.connector.store import SqliteStore, Store
from ilpnet.links.escrow_book import EscrowBook
from ilpnet.links.ledger_escrow import LedgerEscrowLink
from ilpnet.links.ledger_worker import LedgerWorker

log = structlog.get_logger(__name__)


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
    """Connector + escrow ledgers (links, workers, deposits) + off-ledger accounts, started
    and stopped together."""

    def __init__(self, config: EscrowConnectorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        state = config.state_dir
        self.ledgers = EscrowLedgers(
            config.address,
            config.ledgers,
            state,
            clock,
            margin=config.ledger_margin,
            fault=config.fault,
        )
        self.store: Store = SqliteStore(str(state / "packets.sqlite3") if state else ":memory:")
        self.holdings = LedgerHoldings(self.ledgers.links, clock, max_age=0.2)
        self._connector: Connector | None = None

    # what the public API and the tests reach through the service
    @property
    def links(self) -> dict[str, LedgerEscrowLink]:
        return self.ledgers.links

    @property
    def workers(self) -> dict[str, LedgerWorker]:
        return self.ledgers.workers

    @property
    def book(self) -> EscrowBook:
        return self.ledgers.book

    @property
    def deposit_book(self) -> DepositBook:
        return self.ledgers.deposit_book

    @property
    def offledger_book(self) -> OffLedgerBook:
        return self.ledgers.offledger_book

    @property
    def offledger(self) -> OffLedgerDesk | None:
        return self.ledgers.offledger

    @property
    def connector(self) -> Connector:
        return self.ledgers.connector

    @property
    def desk(self) -> DepositDesk:
        return self.ledgers.desk

    @property
    def margin(self) -> timedelta:
        return self.ledgers.margin

    def link_for(self, ledger: str) -> LedgerEscrowLink | None:
        return self.ledgers.link_for(ledger)

    async def start(self) -> None:
        cfg = self.config
        ledgers = self.ledgers
        await ledgers.open()
        accounts = ledgers.account_settings()
        off = cfg.offledger
        if off is not None:
            home = ledgers.links[off.ledger].info
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
            routes=ledgers.routes(),
            rates=rates,
            expiry=ExpiryWindow(cfg.min_message_window, cfg.max_hold_time),
        )
        self._connector = connector
        if off is not None:
            connector.attach(
                OffLedgerLink(ledgers.offledger_book, f"{cfg.address}.{SEGMENT}", cfg.address)
            )
        await ledgers.attach(connector)
        if off is not None:
            ledgers.offledger = OffLedgerDesk(
                off, ledgers.offledger_book, connector, ledgers.book, self.clock
            )
            await ledgers.offledger.recover()
        await connector.start()
        ledgers.start_workers()
        log.info("escrow_connector.started", address=cfg.address, ledgers=list(ledgers.links))

    async def close(self) -> None:
        ledgers = self.ledgers
        await ledgers.stop_workers()
        if ledgers.offledger is not None:
            await ledgers.offledger.close()
        if self._connector is not None:
            await self._connector.close()
        await ledgers.close()
        await self.store.close()
