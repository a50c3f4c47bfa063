"""Opening the small SQLite files that hold a node's durable records (escrow books, deposits,
off-ledger accounts, the settlement journal).

Each statement outside an explicit transaction commits on its own (autocommit), in WAL
mode with ``synchronous=FULL``, so a record written before a step is taken survives a
killed process and a power cut alike.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_journal(path: Path | str, schema: str) -> sqlite3.Connection:
    """The database at `path` (":memory:" for tests) with `schema` (idempotent DDL) applied.
    Usable from any thread: the callers serialise their own access."""
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(schema)
    return db
