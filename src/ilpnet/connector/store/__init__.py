"""The connector's store: `open_store(url)` picks the backend.

memory://                       in-process, for tests (nothing survives a restart)
sqlite:///relative/file.db      embedded default; as in SQLAlchemy, a fourth slash
sqlite:////absolute/file.db     makes the path absolute (sqlite:///:memory: works too)
redis://host:port/db?prefix=p   production; several workers may share it
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ilpnet.connector.store.memory import MemoryStore
from ilpnet.connector.store.protocols import (
    Balance,
    BalanceStore,
    Hold,
    InFlight,
    PacketState,
    PacketStore,
    SettlementStore,
    Store,
)
from ilpnet.connector.store.redis import RedisStore
from ilpnet.connector.store.sqlite import SqliteStore

__all__ = [
    "Balance",
    "BalanceStore",
    "Hold",
    "InFlight",
    "MemoryStore",
    "PacketState",
    "PacketStore",
    "RedisStore",
    "SettlementStore",
    "SqliteStore",
    "Store",
    "open_store",
    "validate_store_url",
]


def validate_store_url(url: str) -> None:
    """Raise ValueError naming what is wrong with a store URL (no connection is made)."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise ValueError(f"sqlite store URL must be sqlite:///path, got {url!r}")
        return
    if parts.scheme == "redis":
        if not parts.hostname:
            raise ValueError(f"redis store URL needs a host, got {url!r}")
        return
    raise ValueError(f"unknown store URL scheme {parts.scheme!r} (memory, sqlite, redis)")


async def open_store(url: str) -> Store:
    """Open the store `url` names (see the module docstring)."""
    validate_store_url(url)
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryStore()
    if parts.scheme == "sqlite":
        return SqliteStore(parts.path[1:])
    prefix = parse_qs(parts.query).get("prefix", ["ilpnet"])[0]
    base = parts._replace(query="").geturl()
    return await RedisStore.connect(base, prefix)
