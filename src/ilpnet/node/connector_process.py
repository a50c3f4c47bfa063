"""One connector as a running process: its config file, its BTP links, admin API and /health.

    config = load_node_config(Path("connector-a.toml"))
    await run_connector(config)          # until SIGTERM or SIGINT, then shuts down cleanly

The file is a connector config (`ilpnet.connector.config`) plus where BTP listens, and each
account's `link` says how it is reached:

    [btp]                                         # children and inbound peers dial here
    host = "127.0.0.1"
    port = 7801

    [accounts.alice]                              # a child: dials us, learns its address
    link = { kind = "btp-server", token = "alice-secret" }

    [accounts.b]                                  # a peer we dial
    link = { kind = "btp-client", url = "ws://127.0.0.1:7802", token = "a-to-b" }
    settlement = { ledger = "http://127.0.0.1:7700", account = "a", secret = "…",
                   peer_account = "b" }

    [accounts.xrp]                                # our own account on a test ledger
    relation = "peer"
    asset_code = "XRP"
    asset_scale = 6
    link = { kind = "ledger-escrow", url = "http://127.0.0.1:7700", account = "conn-a",
             secret = "…", fund = 1000000000 }

A `ledger-escrow` account is the connector's account on that ledger: anyone there pays it
with an escrow carrying an ILP Prepare, and it pays anyone there with an escrow
(`ilpnet.links.ledger_escrow`); a route from the ledger's prefix to it is added unless the
config routes that prefix itself. Its books (escrows, senders' deposits, the ledger cursor)
live in `escrow_state` (default: beside an SQLite store; needed with a Redis store), so a
restart finishes what a crash left open. The listener then also serves the public API
senders quote and pay with (`ilpnet.connector.public_api`: /ledgers, /quote, /deposits…).

A peer with `settlement` settles on that common ledger when its balance falls below
`settle_threshold` (`ilpnet.links.ledger_settlement`); the journal of outgoing settlements
is an SQLite file beside an SQLite store (`settlement_journal = "path"` to choose it; needed
with a Redis store). Without `settlement` the account is credit only, bounded by its limits.

The BTP listener also answers `GET /health` (JSON: address, which links are connected).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import aiohttp
import redis.exceptions
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ilpnet.clock import Clock, SystemClock
from ilpnet.connector.accounts import Relation
from ilpnet.connector.admin import AdminServer, start_admin
from ilpnet.connector.config import (
    ConnectorConfig,
    connector_from_config,
    load_toml_model,
    parse_toml_model,
)
from ilpnet.connector.connector import Connector
from ilpnet.connector.escrow_ledgers import EscrowLedgers, LedgerAccountConfig
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.connector.onward_quotes import PeerQuotes
from ilpnet.connector.public_api import add_public_routes
from ilpnet.connector.store import Store, open_store
from ilpnet.ledger.errors import LedgerError
from ilpnet.links.btp import BtpAccount, BtpAuthError, BtpClientLink, BtpLink, BtpServer
from ilpnet.links.ledger_escrow import LedgerEscrowLink
from ilpnet.links.ledger_settlement import (
    LedgerSettlementSettings,
    LedgerSettler,
    SettlementJournal,
)
from ilpnet.wire.address import is_valid_segment

log = structlog.get_logger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_public_url(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public_url: must be http://host:port of the peer, got {url!r}")


class BtpServerLinkSettings(_Strict):
    """The neighbour dials our BTP listener and authenticates with `token` (and `username`,
    which defaults to the account id)."""

    kind: Literal["btp-server"]
    token: str = Field(min_length=1)
    username: str | None = None
    public_url: str | None = None
    """The peer connector's public API, to quote payments that go on through it."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_public_url(self.public_url)
        return self


class BtpClientLinkSettings(_Strict):
    """We dial the neighbour's BTP server at `url` (ws://, wss://, btp+ws://user:token@…)."""

    kind: Literal["btp-client"]
    url: str
    token: str = ""
    username: str = ""
    public_url: str | None = None
    """The peer connector's public API, to quote payments that go on through it."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _check_public_url(self.public_url)
        parts = urlsplit(self.url.removeprefix("btp+"))
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"url: must be ws://host:port/… or btp+ws://…, got {self.url!r}")
        if not self.token and parts.password is None:
            raise ValueError("token: needed (or put it in the url as btp+ws://user:token@host)")
        return self


class LedgerEscrowLinkSettings(_Strict):
    """The connector's own account on a test ledger at `url`: senders on that ledger pay it
    with escrows carrying a Prepare, and it pays receivers there with escrows. `fund` takes
    that much (smallest units) from the ledger's faucet, once."""

    kind: Literal["ledger-escrow"]
    url: str
    account: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    fund: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: must be the ledger's http://host:port, got {self.url!r}")
        if not is_valid_segment(self.account):
            raise ValueError(f"account: not a valid ledger account name: {self.account!r}")
        return self


AnyLinkSettings = BtpServerLinkSettings | BtpClientLinkSettings | LedgerEscrowLinkSettings
LinkSettings = Annotated[AnyLinkSettings, Field(discriminator="kind")]
_LINK = TypeAdapter[AnyLinkSettings](LinkSettings)
_KINDS = ("btp-server", "btp-client", "ledger-escrow")


class ListenSettings(_Strict):
    """Where the BTP listener (and /health) binds; port 0 picks a free one."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


def _link_error(account: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p not in _KINDS)
    message = str(err["msg"]).removeprefix("Value error, ")
    where = f"accounts.{account}.link"
    if loc:
        where = f"{where}.{loc}"
    elif ": " in message and message.split(": ", 1)[0].isidentifier():
        key, message = message.split(": ", 1)
        where = f"{where}.{key}"
    return f"{where}: {message}"


def _settlement_error(account: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    where = f"accounts.{account}.settlement" + (f".{loc}" if loc else "")
    return f"{where}: {message}"


class NodeConfig(ConnectorConfig):
    """A connector config plus what the node layer needs to run it as a process."""

    btp: ListenSettings = ListenSettings()
    settlement_journal: str | None = None
    """Where outgoing settlements are journalled (default: beside an SQLite store)."""
    escrow_state: str | None = None
    """Directory of the ledger-escrow accounts' books (default: beside an SQLite store)."""
    escrow_margin_ms: int = Field(default=1000, ge=0)
    """An outgoing ledger escrow expires this long before the Prepare it carries."""

    @model_validator(mode="after")
    def _check_settlements(self) -> Self:
        for account_id, account in self.accounts.items():
            if account.settlement is None:
                continue
            try:
                LedgerSettlementSettings.model_validate(account.settlement)
            except ValidationError as exc:
                raise ValueError(_settlement_error(account_id, exc)) from None
            if account.link is None or account.link.get("kind") == "ledger-escrow":
                raise ValueError(
                    f"accounts.{account_id}.settlement: needs a BTP `link` to tell the peer"
                )
            if account.relation is Relation.CHILD:
                raise ValueError(f"accounts.{account_id}.settlement: only for peers and parents")
        if (
            any(a.settlement is not None for a in self.accounts.values())
            and self.settlement_journal is None
            and urlsplit(self.store).scheme == "redis"
        ):
            raise ValueError("settlement_journal: needed with a redis store (a file path)")
        return self

    def settlements(self) -> dict[str, LedgerSettlementSettings]:
        """Each settling account's common ledger (credit-only accounts are left out)."""
        return {
            account_id: LedgerSettlementSettings.model_validate(account.settlement)
            for account_id, account in self.accounts.items()
            if account.settlement is not None
        }

    def journal_path(self) -> str:
        """The settlement journal's SQLite file (":memory:" beside a memory store)."""
        if self.settlement_journal is not None:
            return self.settlement_journal
        parts = urlsplit(self.store)
        if parts.scheme == "sqlite" and parts.path[1:] != ":memory:":
            return f"{parts.path[1:]}.settlements.sqlite3"
        return ":memory:"

    def credit_only_elsewhere(self) -> Self:
        """This config with `settle_threshold` dropped where no ledger is shared: with a
        settler installed, only accounts that can settle may ask it to."""
        accounts = {
            k: a if a.settlement is not None else a.model_copy(update={"settle_threshold": None})
            for k, a in self.accounts.items()
        }
        return self.model_copy(update={"accounts": accounts})

    @model_validator(mode="after")
    def _check_links(self) -> Self:
        for account_id, account in self.accounts.items():
            if account.link is None:
                continue
            try:
                link = _LINK.validate_python(account.link)
            except ValidationError as exc:
                raise ValueError(_link_error(account_id, exc)) from None
            if isinstance(link, BtpClientLinkSettings) and account.relation is Relation.CHILD:
                raise ValueError(
                    f"accounts.{account_id}.link.kind: a child dials us, use 'btp-server'"
                )
            if isinstance(link, LedgerEscrowLinkSettings) and account.relation is not Relation.PEER:
                raise ValueError(
                    f"accounts.{account_id}.relation: an account on a ledger is a 'peer'"
                )
        if (
            self.escrow_state is None
            and urlsplit(self.store).scheme == "redis"
            and any(isinstance(s, LedgerEscrowLinkSettings) for s in self.links().values())
        ):
            raise ValueError("escrow_state: needed with a redis store (a directory)")
        return self

    def escrow_state_dir(self) -> Path | None:
        """Where the ledger-escrow books live (None: in memory, beside a memory store)."""
        if self.escrow_state is not None:
            return Path(self.escrow_state)
        parts = urlsplit(self.store)
        if parts.scheme == "sqlite" and parts.path[1:] != ":memory:":
            return Path(f"{parts.path[1:]}.escrow")
        return None

    def ledger_accounts(self) -> list[LedgerAccountConfig]:
        """The connector's accounts on ledgers (the `ledger-escrow` links)."""
        return [
            LedgerAccountConfig(account_id, s.url, s.account, s.secret, s.fund)
            for account_id, s in self.links().items()
            if isinstance(s, LedgerEscrowLinkSettings)
        ]

    def peer_public_urls(self) -> dict[str, str]:
        """Peers whose public API prices the rest of a path (account id -> URL)."""
        return {
            account_id: s.public_url
            for account_id, s in self.links().items()
            if not isinstance(s, LedgerEscrowLinkSettings) and s.public_url
        }

    def links(self) -> dict[str, AnyLinkSettings]:
        """Each account's parsed link settings (accounts without one are left out)."""
        return {
            account_id: _LINK.validate_python(account.link)
            for account_id, account in self.accounts.items()
            if account.link is not None
        }


def parse_node_config(text: str, source: str = "<config>") -> NodeConfig:
    """Parse and check a connector process's TOML; problems raise ConfigError naming the key."""
    return parse_toml_model(NodeConfig, text, source)


def load_node_config(path: Path) -> NodeConfig:
    return load_toml_model(NodeConfig, path)


class NodeStartError(Exception):
    """The connector could not start (store unreachable, port taken…); one line says why."""


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """structlog as JSON lines on stderr (or `stream`), at `level` and above."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,  # tests reconfigure it in-process
    )


@dataclass
class RunningConnector:
    """A started connector node; `close()` stops everything it started, in order."""

    config: NodeConfig
    connector: Connector
    store: Store
    metrics: ConnectorMetrics
    btp: BtpServer
    client_links: list[BtpClientLink]
    runner: web.AppRunner
    port: int
    admin: AdminServer | None = None
    settler: LedgerSettler | None = None
    ledgers: EscrowLedgers | None = None
    _dialers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def btp_url(self) -> str:
        return f"ws://{self.config.btp.host}:{self.port}"

    @property
    def admin_url(self) -> str | None:
        if self.admin is None:
            return None
        return f"http://{self.admin.host}:{self.admin.port}"

    def link_states(self) -> dict[str, bool]:
        """Whether each account's link is up now (BTP: connected; ledger: its info read)."""
        states: dict[str, bool] = {}
        for account_id, link in self.connector.links.items():
            if isinstance(link, LedgerEscrowLink):
                states[account_id] = link.info is not None
            else:
                states[account_id] = isinstance(link, BtpLink) and link.connected
        return states

    async def close(self) -> None:
        for task in self._dialers:
            task.cancel()
        await asyncio.gather(*self._dialers, return_exceptions=True)
        if self.admin is not None:
            await self.admin.close()
        if self.ledgers is not None:
            await self.ledgers.stop_workers()
        await self.connector.close()  # closes every link; in-flight sends end with T01
        if self.ledgers is not None:
            await self.ledgers.close()  # open escrows stay in the books for the next start
        if self.settler is not None:
            await self.settler.close()  # unfinished settlements stay in the journal
        await self.btp.close()
        await self.runner.cleanup()
        await self.store.close()
        log.info("connector.stopped", address=self.connector.address)


async def _dial(link: BtpClientLink) -> None:
    """Connect an outbound peer link, retrying until it authenticates (or is refused)."""
    while True:
        try:
            await link.start()
        except BtpAuthError as exc:
            log.error("connector.peer_refused", account=link.account_id, error=exc.message)
            return
        except ConnectionError as exc:
            log.warning("connector.peer_unreachable", account=link.account_id, error=str(exc))
            continue
        return


async def _open_ledgers(config: NodeConfig, clock: Clock) -> EscrowLedgers | None:
    """The connector's ledger-escrow accounts, opened and checked against the config."""
    accounts = config.ledger_accounts()
    if not accounts:
        return None
    try:
        ledgers = EscrowLedgers(
            config.address,
            accounts,
            config.escrow_state_dir(),
            clock,
            margin=timedelta(milliseconds=config.escrow_margin_ms),
        )
        if public_urls := config.peer_public_urls():
            ledgers.onward = PeerQuotes(public_urls)
    except (OSError, sqlite3.Error) as exc:
        where = config.escrow_state_dir()
        raise NodeStartError(f"cannot open escrow_state {where}: {exc}") from None
    for lc in accounts:
        at = f"accounts.{lc.id}: ledger {lc.url}"
        try:
            await ledgers.open_one(lc)
        except LedgerError as exc:
            await ledgers.close()
            message = f"{at} refused the connector's account: {exc.message}"
            raise NodeStartError(message) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            await ledgers.close()
            raise NodeStartError(f"{at} not reachable: {exc or type(exc).__name__}") from None
    for link in ledgers.links.values():
        info = link.info
        assert info is not None
        account = config.accounts[link.account_id]
        if (account.asset_code, account.asset_scale) != (info.asset_code, info.asset_scale):
            await ledgers.close()
            raise NodeStartError(
                f"accounts.{link.account_id}: ledger {info.name} is in {info.asset_code} "
                f"scale {info.asset_scale}, not {account.asset_code} scale "
                f"{account.asset_scale}"
            )
    return ledgers


def _health(node: Callable[[], RunningConnector | None]) -> web.Application:
    async def health(request: web.Request) -> web.Response:
        running = node()
        if running is None:
            return web.json_response({"status": "starting"}, status=503)
        return web.json_response(
            {
                "status": "ok",
                "address": running.connector.address,
                "links": running.link_states(),
            }
        )

    app = web.Application()
    app.router.add_get("/health", health)
    return app


async def start_connector(config: NodeConfig, clock: Clock | None = None) -> RunningConnector:
    """Open the store, recover it, start listening and dialing; returns once it serves."""
    clock = clock or SystemClock()
    try:
        store = await open_store(config.store)
    except (OSError, sqlite3.Error, redis.exceptions.RedisError) as exc:
        raise NodeStartError(f"cannot open store {config.store}: {exc}") from None
    links = config.links()
    server_accounts = [
        BtpAccount(account_id, s.token, s.username)
        for account_id, s in links.items()
        if isinstance(s, BtpServerLinkSettings)
    ]
    try:
        btp = BtpServer(server_accounts, clock=clock, address=config.address)
    except ValueError as exc:  # two accounts with the same username
        await store.close()
        raise NodeStartError(str(exc)) from None
    client_links = [
        BtpClientLink(
            s.url,
            account_id,
            s.token or None,
            s.username,
            clock=clock,
            address=config.address,
            backoff_max=2.0,
        )
        for account_id, s in links.items()
        if isinstance(s, BtpClientLinkSettings)
    ]
    metrics = ConnectorMetrics()
    settlements = config.settlements()
    settler: LedgerSettler | None = None
    if settlements:
        try:
            settler = LedgerSettler(SettlementJournal(config.journal_path()), clock)
        except sqlite3.Error as exc:
            await store.close()
            raise NodeStartError(f"cannot open {config.journal_path()}: {exc}") from None
    try:
        ledgers = await _open_ledgers(config, clock)
    except NodeStartError:
        if settler is not None:
            await settler.close()
        await store.close()
        raise
    connector = connector_from_config(
        config.credit_only_elsewhere() if settler is not None else config,
        store,
        clock,
        links=[btp.link(a.account_id) for a in server_accounts],
        observer=metrics,
        settler=settler,
    )
    if settler is not None:
        btp_links: dict[str, BtpLink] = {
            a.account_id: btp.link(a.account_id) for a in server_accounts
        }
        btp_links.update({link.account_id: link for link in client_links})
        for account_id, settings in settlements.items():
            settler.add_account(
                account_id, settings, btp_links[account_id], connector.credit_settlement
            )
            account = config.accounts[account_id]
            try:
                await settler.check(account_id, account.asset_code, account.asset_scale)
            except ValueError as exc:
                await settler.close()
                await store.close()
                raise NodeStartError(str(exc)) from None
            except (LedgerError, OSError, aiohttp.ClientError) as exc:
                log.warning("connector.ledger_unreachable", account=account_id, error=str(exc))
    if ledgers is not None:
        known = {r.prefix for r in connector.routing_table.routes()}
        for r in ledgers.routes():
            if r.prefix not in known:  # a configured route for the prefix wins
                connector.routing_table.add(r)
    holder: list[RunningConnector] = []
    app = _health(lambda: holder[0] if holder else None)
    if ledgers is not None:
        add_public_routes(app, ledgers)  # quotes, deposits, payment status for senders
    btp.mount(app, "/")
    btp.mount(app, "/{tail:.+}")
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    admin: AdminServer | None = None
    try:
        try:
            if ledgers is not None:  # gate by deposits; finish escrows a crash left open
                await ledgers.attach(connector)
            await connector.start()  # recover what a crash left in flight, start sweeping
        except (OSError, sqlite3.Error, redis.exceptions.RedisError) as exc:
            raise NodeStartError(f"cannot recover store {config.store}: {exc}") from None
        try:
            site = web.TCPSite(runner, config.btp.host, config.btp.port)
            await site.start()
            port = int(runner.addresses[0][1])
            if config.admin is not None:
                admin = await start_admin(
                    connector,
                    config.admin.token,
                    metrics,
                    host=config.admin.host,
                    port=config.admin.port,
                )
        except OSError as exc:
            raise NodeStartError(f"cannot listen: {exc.strerror or exc}") from None
    except NodeStartError:
        await connector.close()
        if ledgers is not None:
            await ledgers.close()
        await runner.cleanup()
        await store.close()
        raise
    running = RunningConnector(
        config,
        connector,
        store,
        metrics,
        btp,
        client_links,
        runner,
        port,
        admin,
        settler,
        ledgers,
    )
    for link in client_links:
        connector.attach(link)
        running._dialers.append(asyncio.ensure_future(_dial(link)))
    if settler is not None:
        settler.start()  # resume what a previous run left unpaid or untold
    if ledgers is not None:
        ledgers.start_workers()  # follow each ledger from the cursor the books kept
    holder.append(running)
    log.info(
        "connector.started",
        address=config.address,
        btp=running.btp_url,
        admin=running.admin_url,
        store=urlsplit(config.store).scheme,
    )
    return running


async def run_connector(
    config: NodeConfig,
    *,
    clock: Clock | None = None,
    ready: Callable[[RunningConnector], None] = lambda _: None,
) -> None:
    """Run a connector until SIGINT or SIGTERM, then shut it down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        running = await start_connector(config, clock)
        try:
            ready(running)
            await stop.wait()
            log.info("connector.stopping", address=config.address)
        finally:
            await running.close()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(Exception):
                loop.remove_signal_handler(sig)
