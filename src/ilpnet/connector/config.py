"""A connector's configuration file (TOML), checked by pydantic; errors name the bad key.

    address = "test.bob"                 # this connector's ILP address
    store = "sqlite:///bob.db"           # or "redis://127.0.0.1:6379/0", "memory://"
    spread = "0.002"                     # kept by every currency exchange
    reflect_payments = true              # may a packet leave on the account it came from
    holdings_max_age_ms = 0              # reuse the holdings snapshot (rates) this long

    [expiry]                             # spec 03 §4
    min_message_window_ms = 1000
    max_hold_time_ms = 30000

    [liquidity]                          # base holdings per asset, whole units (rates)
    USD = "1000"
    EUR = "900"

    [fixed_rates]                        # value of one A in B, replaces the pool for A/B
    "EUR/JPY" = "160"

    [accounts.alice]                     # the key is the account id
    relation = "child"                   # parent | peer | child
    asset_code = "USD"
    asset_scale = 2
    maximum = 100000                     # credit we extend (T04 above it)
    minimum = -50000                     # how much we may owe (T04 below it)
    max_packet_amount = 10000            # F08 above it
    settle_threshold = -40000            # settle when we owe more than this...
    settle_to = 0                        # ...back up to this
    packet_rate = { refill_per_second = 100, capacity = 200 }
    amount_rate = { refill_per_second = 10000, capacity = 20000 }
    link = { kind = "btp-server", token = "s3cret" }   # read by the node layer

    [accounts.carol]
    relation = "peer"
    asset_code = "EUR"
    asset_scale = 6

    [[routes]]
    prefix = "test.carol"
    account = "carol"

    [admin]
    host = "127.0.0.1"
    port = 7790
    token = "admin-secret"

`load_config(path)` raises `ConfigError("bob.toml: accounts.alice.maximum: must be >= minimum")`.
"""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    model_validator,
)

from ilpnet.clock import Clock
from ilpnet.connector.accounts import AccountSettings, Relation
from ilpnet.connector.connector import Connector, PacketObserver, Settler
from ilpnet.connector.pipeline import ExpiryWindow
from ilpnet.connector.rates import BalanceHoldings, Rates
from ilpnet.connector.routing_table import Route
from ilpnet.connector.steps.peer_protocols import PeerProtocolHandler
from ilpnet.connector.store import Store, validate_store_url
from ilpnet.links.base import Link
from ilpnet.wire.address import is_valid_address, is_valid_prefix


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and the key."""


def _fraction(value: Any) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a number or a decimal string")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        value = repr(value)  # the decimal the file wrote, not the binary float
    if isinstance(value, str):
        text = value.strip()
        try:
            if "/" in text:
                return Fraction(text)
            return Fraction(Decimal(text))
        except (ValueError, ZeroDivisionError, InvalidOperation):
            pass
    raise ValueError(f"expected a number or a decimal string, got {value!r}")


Rational = Annotated[
    Fraction, PlainValidator(_fraction), PlainSerializer(lambda f: str(f), return_type=str)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpirySettings(_Strict):
    min_message_window_ms: int = Field(default=1000, ge=1, le=60_000)
    max_hold_time_ms: int = Field(default=30_000, ge=1, le=3_600_000)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.max_hold_time_ms < self.min_message_window_ms:
            raise ValueError("max_hold_time_ms: must be >= min_message_window_ms")
        return self

    def window(self) -> ExpiryWindow:
        return ExpiryWindow(
            timedelta(milliseconds=self.min_message_window_ms),
            timedelta(milliseconds=self.max_hold_time_ms),
        )


class AccountConfig(AccountSettings):
    """An account as configured: its settings plus how the node layer reaches it."""

    link: dict[str, Any] | None = None
    settlement: dict[str, Any] | None = None
    """A common ledger to settle on (checked by the node layer, `links.ledger_settlement`)."""


class RouteConfig(_Strict):
    prefix: str
    account: str

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not is_valid_prefix(self.prefix):
            raise ValueError(f"prefix: not an ILP address prefix: {self.prefix!r}")
        return self


class AdminSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=7790, ge=0, le=65535)
    token: str = Field(min_length=8)


class ConnectorConfig(_Strict):
    """Everything one connector node needs besides its links' sockets."""

    address: str
    store: str = "sqlite:///connector.db"
    spread: Rational = Fraction(0)
    reflect_payments: bool = True
    expiry: ExpirySettings = ExpirySettings()
    liquidity: dict[str, Rational] = Field(default_factory=dict)
    fixed_rates: dict[str, Rational] = Field(default_factory=dict)
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)
    routes: list[RouteConfig] = Field(default_factory=list)
    admin: AdminSettings | None = None
    holdings_max_age_ms: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _account_ids(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("accounts"), dict):
            accounts = {}
            for key, value in data["accounts"].items():
                if isinstance(value, dict):
                    if "id" in value and value["id"] != key:
                        raise ValueError(f"accounts.{key}.id: must match the table name")
                    value = {**value, "id": key}
                accounts[key] = value
            data = {**data, "accounts": accounts}
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not is_valid_address(self.address):
            raise ValueError(f"address: not a valid ILP address: {self.address!r}")
        try:
            validate_store_url(self.store)
        except ValueError as exc:
            raise ValueError(f"store: {exc}") from None
        if not 0 <= self.spread < 1:
            raise ValueError("spread: must be >= 0 and < 1")
        for pair, price in self.fixed_rates.items():
            if re.fullmatch(r"[^/\s]+/[^/\s]+", pair) is None:
                raise ValueError(f"fixed_rates.{pair}: key must look like 'USD/EUR'")
            if price <= 0:
                raise ValueError(f"fixed_rates.{pair}: must be > 0")
        for code, amount in self.liquidity.items():
            if amount < 0:
                raise ValueError(f"liquidity.{code}: must be >= 0")
        parents = [k for k, a in self.accounts.items() if a.relation is Relation.PARENT]
        if len(parents) > 1:
            raise ValueError(f"accounts: at most one parent, got {', '.join(parents)}")
        for i, r in enumerate(self.routes):
            if r.account not in self.accounts:
                raise ValueError(f"routes.{i}.account: unknown account {r.account!r}")
        return self

    def account_settings(self) -> list[AccountSettings]:
        return list(self.accounts.values())

    def static_routes(self) -> list[Route]:
        return [Route(r.prefix, r.account) for r in self.routes]

    def fixed_rate_pairs(self) -> dict[tuple[str, str], Fraction]:
        pairs = {}
        for pair, price in self.fixed_rates.items():
            a, b = pair.split("/")
            pairs[(a, b)] = price
        return pairs


def _where(loc: tuple[int | str, ...], message: str) -> str:
    path = ".".join(str(p) for p in loc)
    # A model-level check names its own field first ("maximum: must be >= minimum").
    if re.match(r"^[A-Za-z_][\w.]*: ", message):
        field, rest = message.split(": ", 1)
        if field.split(".")[0] in ("accounts", "routes", "fixed_rates", "liquidity"):
            return f"{field}: {rest}"
        return f"{path}.{field}: {rest}" if path else f"{field}: {rest}"
    return f"{path}: {message}" if path else message


_Model = TypeVar("_Model", bound=BaseModel)


def parse_toml_model(model: type[_Model], text: str, source: str = "<config>") -> _Model:
    """Parse TOML text into `model`; every problem raises ConfigError naming the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {_where(tuple(err['loc']), message)}") from None


def load_toml_model(model: type[_Model], path: Path) -> _Model:
    """`parse_toml_model` on a file; an unreadable file is one ConfigError line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_toml_model(model, text, str(path))


def parse_config(text: str, source: str = "<config>") -> ConnectorConfig:
    """Parse and check TOML text; every problem raises ConfigError naming the key."""
    return parse_toml_model(ConnectorConfig, text, source)


def load_config(path: Path) -> ConnectorConfig:
    return load_toml_model(ConnectorConfig, path)


def connector_from_config(
    config: ConnectorConfig,
    store: Store,
    clock: Clock,
    *,
    links: list[Link] | None = None,
    settler: Settler | None = None,
    ccp: PeerProtocolHandler | None = None,
    settle_messages: PeerProtocolHandler | None = None,
    observer: PacketObserver | None = None,
) -> Connector:
    """The Connector `config` describes, on an opened `store` (see `open_store`)."""
    accounts = config.account_settings()
    holdings = BalanceHoldings(
        store,
        {a.id: a for a in accounts},
        dict(config.liquidity),
        clock=clock,
        max_age=config.holdings_max_age_ms / 1000,
    )
    rates = Rates(holdings, spread=config.spread, fixed=config.fixed_rate_pairs())
    return Connector(
        config.address,
        accounts,
        store,
        clock,
        links=links or [],
        routes=config.static_routes(),
        rates=rates,
        expiry=config.expiry.window(),
        settler=settler,
        ccp=ccp,
        settle_messages=settle_messages,
        observer=observer,
        reflect=config.reflect_payments,
    )
