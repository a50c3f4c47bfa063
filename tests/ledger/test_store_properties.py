"""Random sequences of ledger operations, straight on the store: the books always balance,
no balance goes negative, and every refusal is a typed ledger error."""

from __future__ import annotations

import hashlib
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilpnet.crypto.claims import public_key_bytes, sign_claim
from ilpnet.ledger.errors import LedgerError
from ilpnet.ledger.models import LedgerInfo
from ilpnet.ledger.store import LedgerStore, Operation, Tx, hash_secret

ACCOUNTS = ["a", "b", "c"]
PREIMAGES = [bytes([i]) * 32 for i in range(3)]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))
START_MS = 1_800_000_000_000

account = st.sampled_from(ACCOUNTS)
amount = st.integers(1, 400)
request_id = st.sampled_from(["r1", "r2", "r3", "r4", "r5", "r6"])
ops = st.one_of(
    st.tuples(st.just("faucet"), account, request_id, amount),
    st.tuples(st.just("transfer"), account, request_id, account, amount),
    st.tuples(
        st.just("escrow"),
        account,
        request_id,
        account,
        amount,
        st.integers(-5, 50),
        st.integers(0, 2),
    ),
    st.tuples(st.just("fulfil"), request_id, st.integers(0, 20), st.integers(0, 2)),
    st.tuples(st.just("open"), account, request_id, account, amount, st.integers(0, 30)),
    st.tuples(st.just("fund"), account, request_id, st.integers(0, 20), amount),
    st.tuples(st.just("claim"), request_id, st.integers(0, 20), st.integers(0, 900), st.booleans()),
    st.tuples(st.just("close"), account, request_id, st.integers(0, 20)),
    st.tuples(st.just("advance"), st.integers(1, 40)),
)


def _pick(ids: list[str], index: int) -> str:
    return ids[index % len(ids)] if ids else "0" * 32


def _operation(
    store: LedgerStore, op: tuple[Any, ...], escrows: list[str], channels: list[str]
) -> Operation:
    kind = op[0]
    if kind == "faucet":
        return partial(store.mint, account=op[1], request_id=op[2], amount=op[3])
    if kind == "transfer":
        return partial(store.transfer, sender=op[1], request_id=op[2], receiver=op[3], amount=op[4])
    if kind == "escrow":
        _, sender, rid, receiver, value, delta, pre = op

        def create(tx: Tx) -> Any:
            cond = hashlib.sha256(PREIMAGES[pre]).digest()
            return store.create_escrow(
                tx, sender, rid, receiver, value, cond, tx.now_ms + delta * 1000, b"m"
            )

        return create
    if kind == "fulfil":
        _, rid, index, pre = op
        escrow_id = _pick(escrows, index)

        def fulfil(tx: Tx) -> Any:
            row = tx.conn.execute(
                "SELECT receiver FROM escrows WHERE id = ?", (escrow_id,)
            ).fetchone()
            who = row[0] if row else "a"
            return store.fulfil_escrow(tx, who, rid, escrow_id, PREIMAGES[pre])

        return fulfil
    if kind == "open":
        _, sender, rid, receiver, value, delay = op
        return partial(
            store.open_channel,
            sender=sender,
            request_id=rid,
            receiver=receiver,
            amount=value,
            settle_delay_ms=delay * 1000,
            public_key=public_key_bytes(KEY),
        )
    if kind == "fund":
        _, who, rid, index, value = op
        return partial(
            store.fund_channel,
            account=who,
            request_id=rid,
            channel_id=_pick(channels, index),
            amount=value,
        )
    if kind == "claim":
        _, rid, index, value, close = op
        channel_id = _pick(channels, index)

        def claim(tx: Tx) -> Any:
            row = tx.conn.execute(
                "SELECT receiver FROM channels WHERE id = ?", (channel_id,)
            ).fetchone()
            who = row[0] if row else "a"
            sig = sign_claim(KEY, channel_id, value) if value else bytes(64)
            return store.redeem_claim(tx, who, rid, channel_id, max(value, 1), sig, close)

        return claim
    if kind == "close":
        _, who, rid, index = op
        return partial(
            store.close_channel, account=who, request_id=rid, channel_id=_pick(channels, index)
        )
    raise AssertionError(kind)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(ops, min_size=1, max_size=6), min_size=1, max_size=12))
def test_random_operations_keep_the_books(batches: list[list[tuple[Any, ...]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = LedgerStore(Path(tmp) / "p.sqlite3", LedgerInfo("p", "XRP", 6, 2, 0, 10**6))
        try:
            now = START_MS
            store.apply(
                [
                    partial(store.create_account, name=n, secret_hash=hash_secret(n * 8))
                    for n in ACCOUNTS
                ]
                + [
                    partial(store.mint, account=n, request_id="seed", amount=1000) for n in ACCOUNTS
                ],
                now,
            )
            escrows: list[str] = []
            channels: list[str] = []
            for batch in batches:
                runnable: list[Operation] = []
                for op in batch:
                    if op[0] == "advance":
                        now += op[1] * 1000
                        runnable.append(store.expire_due)
                    else:
                        runnable.append(_operation(store, op, escrows, channels))
                result = store.apply(runnable, now)
                for op, outcome in zip(batch, result.results, strict=True):
                    if isinstance(outcome, BaseException):
                        assert isinstance(outcome, LedgerError), repr(outcome)
                        continue
                    if op[0] == "escrow" and outcome["id"] not in escrows:
                        escrows.append(outcome["id"])
                    if op[0] == "open" and outcome["id"] not in channels:
                        channels.append(outcome["id"])
                books = store.books()
                assert books.balanced, books
                assert books.escrowed >= 0
                assert books.channel_locked >= 0
                for name in ACCOUNTS:
                    assert int(store.account(name)["balance"]) >= 0
        finally:
            store.close()
