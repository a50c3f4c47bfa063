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
from ilpnet.connector.metrics import ConnectorMetrics
from ilpnet.connector.store import Store, open_store
from ilpnet.ledger.errors import LedgerError
from ilpnet.links.btp import BtpAccount, BtpAuthError, BtpClientLink, BtpLink, BtpServer
from ilpnet.links.ledger_settlement import (
    LedgerSettlementSettings,
    LedgerSettler,
    SettlementJournal,
)

log = structlog.get_logger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BtpServerLinkSettings(_Strict):
    """The neighbour dials our BTP listener and authenticates with `token` (and `username`,
    which defaults to the account id)."""

    kind: Literal["btp-server"]
    token: str = Field(min_length=1)
    username: str | None = None


class BtpClientLinkSettings(_Strict):
    """We dial the neighbour's BTP server at `url` (ws://, wss://, btp+ws://user:token@…)."""

    kind: Literal["btp-client"]
    url: str
    token: str = ""
    username: str = ""

    @model_validator(mode="after")
    def _check(self) -> Self:
        parts = urlsplit(self.url.removeprefix("btp+"))
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"url: must be ws://host:port/… or btp+ws://…, got {self.url!r}")
        if not self.token and parts.password is None:
            raise ValueError("token: needed (or put it in the url as btp+ws://user:token@host)")
        return self


LinkSettings = Annotated[BtpServerLinkSettings | BtpClientLinkSettings, Field(discriminator="kind")]
_LINK = TypeAdapter[BtpServerLinkSettings | BtpClientLinkSettings](LinkSettings)


class ListenSettings(_Strict):
    """Where the BTP listener (and /health) binds; port 0 picks a free one."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)


def _link_error(account: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if p not in ("btp-server", "btp-client"))
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

    @model_validator(mode="after")
    def _check_settlements(self) -> Self:
        for account_id, account in self.accounts.items():
            if account.settlement is None:
                continue
            try:
                LedgerSettlementSettings.model_validate(account.settlement)
            except ValidationError as exc:
                raise ValueError(_settlement_error(account_id, exc)) from None
            if account.link is None:
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
        return self

    def links(self) -> dict[str, BtpServerLinkSettings | BtpClientLinkSettings]:
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
        """Whether each account's BTP link is connected now."""
        states: dict[str, bool] = {}
        for account_id, link in self.connector.links.items():
            states[account_id] = isinstance(link, BtpLink) and link.connected
        return states

    async def close(self) -> None:
        for task in self._dialers:
            task.cancel()
        await asyncio.gather(*self._dialers, return_exceptions=True)
        if self.admin is not None:
            await self.admin.close()
        await self.connector.close()  # closes every link; in-flight sends end with T01
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
    holder: list[RunningConnector] = []
    app = _health(lambda: holder[0] if holder else None)
    btp.mount(app, "/")
    btp.mount(app, "/{tail:.+}")
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    admin: AdminServer | None = None
    try:
        try:
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
        await runner.cleanup()
        await store.close()
        raise
    running = RunningConnector(
        config, connector, store, metrics, btp, client_links, runner, port, admin, settler
    )
    for link in client_links:
        connector.attach(link)
        running._dialers.append(asyncio.ensure_future(_dial(link)))
    if settler is not None:
        settler.start()  # resume what a previous run left unpaid or untold
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
