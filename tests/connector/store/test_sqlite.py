"""The SQLite store's group commit: many operations in one transaction (books kept in Python
until COMMIT, no savepoint per operation) answer exactly as the memory store does one by one,
a refused operation changes nothing, and a transaction that fails after it began leaves each
operation the outcome it would have had alone."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.store import (
    Balance,
    InFlight,
    MemoryStore,
    PacketState,
    SqliteStore,
    Store,
)
from ilpnet.connector.store import sqlite as sqlite_store
from ilpnet.connector.store.protocols import INT64_MAX, INT64_MIN

T = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNTS = ("a", "b")
amount = st.one_of(st.integers(0, 300), st.integers(INT64_MAX - 300, INT64_MAX))
limit = st.one_of(st.none(), st.integers(-500, 500), st.just(INT64_MIN), st.just(INT64_MAX))
account = st.sampled_from(ACCOUNTS)
key = st.one_of(st.none(), st.sampled_from(["k1", "k2"]))
op = st.one_of(
    st.tuples(st.just("reserve"), st.tuples(st.integers(0, 3), account), amount, limit),
    st.tuples(st.just("commit"), st.integers(0, 3), st.none(), st.none()),
    st.tuples(st.just("release"), st.integers(0, 3), st.none(), st.none()),
    st.tuples(st.just("settled_in"), account, amount, key),
    st.tuples(st.just("settled_out"), account, amount, key),
    st.tuples(
        st.just("settle"),
        account,
        st.tuples(st.integers(-400, 400), st.integers(-400, 400)),
        key,
    ),
    st.tuples(
        st.just("begin"),
        st.tuples(st.integers(0, 3), account, account),
        st.tuples(st.integers(0, 300), amount),
        limit,
    ),
    st.tuples(
        st.just("both"),
        st.tuples(st.integers(0, 3), account, account),
        st.tuples(st.integers(0, 300), amount),
        st.tuples(limit, limit),
    ),
    st.tuples(
        st.just("finish"), st.integers(0, 3), st.sampled_from(list(PacketState)[1:]), st.none()
    ),
)


async def one(store: Store, tag: str, name: str, x: Any, y: Any, z: Any) -> object:
    """One operation; its answer, or the kind of error that refused it."""
    try:
        if name == "reserve":  # the hold of packet n, which "begin" n takes over
            n, src = x
            return await store.reserve_incoming(f"{tag}p{n}", tag + src, y, z, T)
        if name == "commit":
            return await store.commit_incoming(f"{tag}p{x}")
        if name == "release":
            return await store.release_incoming(f"{tag}p{x}")
        if name == "settled_in":
            return await store.settled_incoming(tag + x, y, None if z is None else tag + z)
        if name == "settled_out":
            return await store.settled_outgoing(tag + x, y, None if z is None else tag + z)
        if name == "settle":
            return await store.begin_settlement(tag + x, y[0], y[1], None if z is None else tag + z)
        if name in ("begin", "both"):
            (n, src, dst), (incoming, outgoing) = x, y
            packet = InFlight(
                f"{tag}p{n}", tag + src, incoming, tag + dst, outgoing, bytes(32), T, T
            )
            if name == "begin":
                await store.begin_packet(packet, z)
            else:
                await store.reserve_and_begin(packet, *z)
            return None
        return await store.finish_packet(f"{tag}p{x}", y)
    except InsufficientLiquidityError:
        return "T04"
    except TransferTimedOutError:
        return "R00"
    except ValueError:
        return "ValueError"


async def together(store: Store, tag: str, batch: list[tuple[str, Any, Any, Any]]) -> list[object]:
    """The operations asked for in one tick."""
    return list(await asyncio.gather(*(one(store, tag, *o) for o in batch)))


async def state(store: Store, tag: str) -> tuple[list[Balance], list[object]]:
    books = [await store.get_balance(tag + a) for a in ACCOUNTS]
    packets = [await store.get_packet(f"{tag}p{n}") for n in range(4)]
    holds = [h for h in await store.held_incoming() if h.packet_id.startswith(tag)]
    found = [None if p is None else (p.outgoing_amount, p.state) for p in packets]
    return books, [*found, *holds]


Stores = tuple[asyncio.AbstractEventLoop, MemoryStore, SqliteStore]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    loop = asyncio.new_event_loop()
    memory, sqlite = MemoryStore(), SqliteStore(tmp_path / "s.db")
    try:
        yield loop, memory, sqlite
    finally:
        loop.run_until_complete(sqlite.close())
        loop.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(op, min_size=1, max_size=10), min_size=1, max_size=3))
def test_one_transaction_answers_as_one_at_a_time(
    batches: list[list[tuple[str, Any, Any, Any]]], stores: Stores
) -> None:
    """Each batch is asked for in one tick, so the SQLite store runs it in one transaction;
    the memory store answers the same operations one after the other."""
    loop, memory, sqlite = stores
    tag = uuid.uuid4().hex[:8]
    begun: set[int] = set()
    reserved: set[int] = set()
    for ops in batches:
        # a packet id begun (or a hold made) twice: the memory store names the duplicate
        # before the limit, SQLite the limit first (as it always has);
        # test_a_refused_operation_in_a_batch_... covers the duplicate
        batch = []
        for o in ops:
            if o[0] in ("begin", "both", "reserve"):
                seen = reserved if o[0] == "reserve" else begun
                if o[1][0] in seen:
                    continue
                seen.add(o[1][0])
            batch.append(o)
        expected = [loop.run_until_complete(one(memory, tag, *o)) for o in batch]
        got = loop.run_until_complete(together(sqlite, tag, batch))
        assert got == expected
        assert loop.run_until_complete(state(sqlite, tag)) == loop.run_until_complete(
            state(memory, tag)
        )


async def test_a_packet_changed_by_another_process_is_finished_as_it_is_now(
    tmp_path: Path,
) -> None:
    """`finish_packet` skips its read for packets its own store began: if another process
    has meanwhile finished, pruned and begun that packet id again, the row decides."""
    first, second = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    try:
        await first.reserve_incoming("p", "a", 10, None, T)
        await first.begin_packet(InFlight("p", "a", 10, "b", 9, bytes(32), T, T), None)
        assert await second.finish_packet("p", PacketState.FULFILLED) is True
        assert await second.prune_finished() == 1
        await second.reserve_incoming("p", "c", 5, None, T)
        await second.begin_packet(InFlight("p", "c", 5, "d", 4, bytes(32), T, T), None)
        assert await first.finish_packet("p", PacketState.REJECTED) is True
        assert await first.finish_packet("p", PacketState.FULFILLED) is False
        assert await first.all_balances() == [
            Balance("a", 10, 0, 0),
            Balance("b", -9, 0, 0),
            Balance("c", 0, 0, 0),
            Balance("d", 0, 0, 0),
        ]
    finally:
        await first.close()
        await second.close()


async def test_a_failed_write_back_leaves_each_operation_its_own_outcome(
    tmp_path: Path,
) -> None:
    """The books are written at the end of the transaction; when that fails (here a trigger
    refuses one book's final figure), the operations run again one transaction each: the
    others commit, the one whose write fails gets the error and changes nothing."""
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    try:
        await store.reserve_incoming("h1", "a", 1, None, T)
        await store.reserve_incoming("h2", "bad", 1, None, T)
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TRIGGER refuse BEFORE UPDATE ON balances "
                "WHEN NEW.account = 'bad' AND NEW.balance = 16 "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
        got = await asyncio.gather(
            store.reserve_incoming("h3", "a", 5, None, T),
            store.reserve_incoming("h4", "bad", 12, None, T),
            store.reserve_incoming("h5", "a", 7, None, T),
            store.reserve_incoming("h6", "bad", 3, None, T),
            return_exceptions=True,
        )
        assert list(got[:3]) == [6, 13, 13]
        assert isinstance(got[3], sqlite3.IntegrityError)
        assert "refused by the test" in str(got[3])
        assert await store.all_balances() == [Balance("a", 13, 13, 0), Balance("bad", 13, 13, 0)]
        assert [h.packet_id for h in await store.held_incoming()] == [f"h{i}" for i in range(1, 6)]
    finally:
        await store.close()


async def test_a_refused_operation_in_a_batch_changes_nothing(tmp_path: Path) -> None:
    """No savepoint per operation: the checks come before the one write, so a refusal in the
    middle of a transaction leaves the others' changes and its own none."""
    store = SqliteStore(tmp_path / "s.db")
    try:
        got = await asyncio.gather(
            store.reserve_incoming("h", "a", 60, 100, T),
            store.begin_packet(InFlight("h", "a", 60, "b", 50, bytes(32), T, T), 0),
            store.reserve_incoming("h2", "a", 60, 100, T),
            store.reserve_incoming("p", "a", 1, 100, T),
            store.begin_packet(InFlight("p", "a", 1, "b", 1, bytes(32), T, T), None),
            store.begin_packet(InFlight("p", "a", 2, "b", 2, bytes(32), T, T), None),
            store.begin_packet(InFlight("q", "a", 5, "b", 1, bytes(32), T, T), None),
            store.reserve_incoming("p", "a", 1, 100, T),
            store.settled_outgoing("b", INT64_MAX, "k"),
            store.settled_outgoing("b", 1, "k"),
            store.settled_outgoing("b", 1),
            return_exceptions=True,
        )
        assert got[0] == 60
        assert isinstance(got[1], InsufficientLiquidityError)
        assert isinstance(got[2], InsufficientLiquidityError)
        assert got[3] == 61
        assert got[4] is None  # took the hold of "p" over
        assert isinstance(got[5], ValueError)
        assert "already recorded" in str(got[5])
        assert isinstance(got[6], TransferTimedOutError)  # no hold: its row deleted again
        assert got[7] == 62  # a new hold under "p" (the first one was taken over)
        assert (got[8], got[9]) == (True, False)
        assert isinstance(got[10], ValueError)
        assert "overflow" in str(got[10])
        assert await store.all_balances() == [
            Balance("a", 62, 62, 0),
            Balance("b", INT64_MAX, 0, 1),
        ]
        assert await store.pending_packets() == [
            InFlight("p", "a", 1, "b", 1, bytes(32), T, T),
        ]
        assert [(h.packet_id, h.amount) for h in await store.held_incoming()] == [
            ("h", 60),
            ("p", 1),
        ]
    finally:
        await store.close()


async def test_a_reservation_beyond_int64_that_passes_the_checks_is_refused(
    tmp_path: Path,
) -> None:
    """An amount no SQLite integer can hold is refused as binding it to a statement always
    refused it, though the book is no longer written per operation."""
    store = SqliteStore(tmp_path / "s.db")
    try:
        with sqlite3.connect(tmp_path / "s.db") as db:  # a book no operation could leave
            db.execute("INSERT INTO balances VALUES ('n', -10, -10, 0)")
        with pytest.raises(OverflowError):
            await store.reserve_incoming("h", "n", INT64_MAX + 5, None, T)
        assert await store.get_balance("n") == Balance("n", -10, -10, 0)
        assert await store.held_incoming() == []
    finally:
        await store.close()


def rows_in_database_file(path: Path) -> int:
    """Packets in the main database file alone: `immutable` reads it without the WAL, so
    only what a checkpoint has copied there counts."""
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'packets'").fetchall():
            return 0  # not even the schema has reached it
        (count,) = db.execute("SELECT COUNT(*) FROM packets").fetchone()
        return int(count)
    finally:
        db.close()


def checkpoint_started(store: SqliteStore) -> asyncio.Future[None] | None:
    return store._checkpointing


async def test_the_log_is_checkpointed_off_the_event_loop_every_so_many_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own checkpoint (an fsync, milliseconds, at the commit that fills the log)
    is off; the store checkpoints in a worker thread every `CHECKPOINT_EVERY` commits."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_EVERY", 3)
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    try:
        for i in range(2):
            await store.begin_packet(InFlight(f"p{i}", "a", 0, "b", 1, bytes(32), T, T), None)
        assert checkpoint_started(store) is None
        assert rows_in_database_file(path) == 0  # all in the log still
        await store.begin_packet(InFlight("p2", "a", 0, "b", 1, bytes(32), T, T), None)
        started = checkpoint_started(store)
        assert started is not None  # the third commit started one
        await asyncio.wait_for(started, 10)
        assert rows_in_database_file(path) == 3
        assert len(await store.pending_packets()) == 3
    finally:
        await store.close()
