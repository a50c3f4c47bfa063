"""A connector's accounts on test ledgers, paid by on-ledger escrows: links, books, workers.

    ledgers = EscrowLedgers("test.alpha", [LedgerAccountConfig("xrp", url, "alpha", "s3cret")],
                            state_dir, clock)
    await ledgers.open()                 # each ledger's info; create the accounts if needed
    connector = Connector(..., accounts=[*mine, *ledgers.account_settings()],
                          routes=[*mine, *ledgers.routes()])
    await ledgers.attach(connector)      # gate incoming escrows by deposits, recover a crash
    await connector.start()
    ledgers.start_workers()              # follow every ledger from its durable cursor
    ...
    await ledgers.close()

Per ledger: one `LedgerEscrowLink` (its account id is the ledger's id in the config), one
`LedgerWorker`, a route from the ledger's ILP prefix (its name) to that account. Deposits
(`DepositDesk`) gate incoming escrows. The escrow, deposit and off-ledger books live in
``state_dir`` (SQLite; None keeps them in memory), so a restarted process picks up what a
killed one left: recovery finishes outgoing escrows first (their outcome decides the
incoming ones), then incoming escrows, then withdrawals.

Used by the escrow connector (`ilpnet.connector.escrow_service`) and by any connector
process whose config has ``link = { kind = "ledger-escrow", … }`` accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import structlog

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector
from ilpnet.connector.deposits import DepositBook, DepositDesk
from ilpnet.connector.offledger import OffLedgerBook, OffLedgerDesk
from ilpnet.connector.onward_quotes import PeerQuotes
from ilpnet.connector.routing_table import Route
from ilpnet.connector.store import PacketState
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
    fund: int = 0
    """Take this much (smallest units) from the ledger's faucet, once per account."""


class EscrowLedgers:
    """A connector's escrow links, their books, deposit desk and ledger workers."""

    def __init__(
        self,
        address: str,
        ledgers: Sequence[LedgerAccountConfig],
        state_dir: Path | None,
        clock: Clock,
        *,
        margin: timedelta = timedelta(seconds=1),
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.address = address
        self.configs = tuple(ledgers)
        self.clock = clock
        self.margin = margin
        """An outgoing escrow expires this long before the Prepare it carries."""
        self.fault = fault
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)
        self.book = EscrowBook(state_dir / "escrows.sqlite3" if state_dir else ":memory:")
        self.deposit_book = DepositBook(state_dir / "deposits.sqlite3" if state_dir else ":memory:")
        self.offledger_book = OffLedgerBook(
            state_dir / "offledger.sqlite3" if state_dir else ":memory:"
        )
        self.offledger: OffLedgerDesk | None = None
        """Off-ledger accounts, when the connector offers them (the escrow connector)."""
        self.onward: PeerQuotes | None = None
        """Peers that price the rest of a path in quotes (their public APIs)."""
        self.links: dict[str, LedgerEscrowLink] = {}
        self.workers: dict[str, LedgerWorker] = {}
        self._connector: Connector | None = None
        self._desk: DepositDesk | None = None

    @property
    def connector(self) -> Connector:
        if self._connector is None:
            raise RuntimeError("escrow ledgers not attached to a connector")
        return self._connector

    @property
    def desk(self) -> DepositDesk:
        if self._desk is None:
            raise RuntimeError("escrow ledgers not attached to a connector")
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

    async def open(self) -> None:
        """Read every ledger's info; create (and fund, once) the connector's accounts.

        Raises what the ledger client raises (`LedgerError`, `aiohttp.ClientError`)."""
        for lc in self.configs:
            await self.open_one(lc)

    async def open_one(self, lc: LedgerAccountConfig) -> LedgerEscrowLink:
        """Open the link of one of `configs` (see `open`)."""
        client = LedgerClient(lc.url, lc.account, lc.secret)
        link = LedgerEscrowLink(
            lc.id,
            client,
            self.book,
            self.clock,
            address=self.address,
            secret=lc.secret,
            margin=self.margin,
        )
        link.fault = self.fault
        self.links[lc.id] = link  # before start: close() closes its client either way
        await link.start()  # the ledger's info; the account created, or its secret checked
        if lc.fund > 0:  # one request id: funded once, however often the node starts
            await client.faucet(lc.fund, request_id=f"fund:{lc.account}")
        return link

    def account_settings(self) -> list[AccountSettings]:
        """One peer account per ledger, in the ledger's asset (after `open`)."""
        out: list[AccountSettings] = []
        for link in self.links.values():
            assert link.info is not None
            out.append(
                AccountSettings(
                    id=link.account_id,
                    relation=Relation.PEER,
                    asset_code=link.info.asset_code,
                    asset_scale=link.info.asset_scale,
                )
            )
        return out

    def routes(self) -> list[Route]:
        """Each ledger's ILP prefix to its link (after `open`)."""
        return [Route(link.prefix, link.account_id) for link in self.links.values()]

    async def attach(self, connector: Connector) -> None:
        """Hand every link to `connector`, gate incoming escrows by deposits, and finish
        what a crash left (before the connector starts taking packets)."""
        self._connector = connector
        desk = DepositDesk(connector, self.deposit_book, self.links)
        self._desk = desk
        for link in self.links.values():
            link.gate = desk
            link.peers = self.links
            link.orphan_fulfilled = self._orphan_fulfilled
            connector.attach(link)
        for link in self.links.values():
            await link.recover_outgoing()
        for link in self.links.values():
            for record in self.book.open_incoming(link.account_id):
                preimage = self.offledger_book.credited(record.out_key)
                if preimage is not None:  # paid to an off-ledger account before the crash
                    await link.complete_incoming(record.escrow_id, preimage)
        for link in self.links.values():
            await link.recover_incoming()
        await desk.resume_withdrawals()

    def start_workers(self) -> None:
        for link in self.links.values():
            worker = LedgerWorker(link, self.book)
            self.workers[link.account_id] = worker
            worker.start()
        log.info("escrow_ledgers.following", address=self.address, ledgers=list(self.links))

    async def _orphan_fulfilled(self, record: OutgoingEscrow) -> None:
        """A payment finished while no pipeline waited for it (after a restart): commit its
        in-flight packet, so the connector's books show it fulfilled, not expired."""
        store = self.connector.store
        for packet in await store.pending_packets():
            if packet.outgoing_account == record.ledger and packet.condition == record.condition:
                await store.finish_packet(packet.packet_id, PacketState.FULFILLED)
                log.info("escrow_ledgers.packet_recovered", packet=packet.packet_id)
                return

    async def stop_workers(self) -> None:
        for worker in self.workers.values():
            await worker.stop()

    async def close(self) -> None:
        """Stop the workers, close the ledger clients and the books (the connector, which
        closes the links, is closed by its owner in between or before)."""
        await self.stop_workers()
        for link in self.links.values():
            await link.client.close()
        self.book.close()
        self.deposit_book.close()
        self.offledger_book.close()
