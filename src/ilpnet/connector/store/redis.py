"""Redis store for production and for several workers sharing one connector's books.

Each check-and-update is one Lua script (the ``lua/`` files beside this module), so two
workers never race past a limit. Calls go through `RespClient`: one connection, every call
pipelined. Keys live under a prefix (``ilpnet`` by default):

    {prefix}:bal:{account}   hash  balance, pending_in, pending_out
    {prefix}:accounts        set   every account with a book
    {prefix}:pkt:{id}        hash  one in-flight packet (see InFlight) and its state
    {prefix}:pending         zset  pending packet ids scored by outgoing expiry (ms)
    {prefix}:holds           hash  packet id -> its hold: "amount expires_at account"
    {prefix}:finished        set   ended packet ids, until pruned
    {prefix}:settlement:{key} string  a settlement idempotency key already applied (7 days)
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from ilpnet.connector.errors import InsufficientLiquidityError, TransferTimedOutError
from ilpnet.connector.store.protocols import (
    INT64_MAX,
    INT64_MIN,
    Balance,
    Hold,
    InFlight,
    PacketState,
    check_amount,
)
from ilpnet.connector.store.resp import RespClient, RespError

SETTLEMENT_KEY_TTL_S = 7 * 24 * 3600
PRUNE_CHUNK = 100
"""Ended packets forgotten per round trip by `prune_finished` (fewer per round trip, a
shorter wait for the packets that meet a prune)."""
"""How long a settlement's idempotency key is remembered (RFC 0038: at least 24 h)."""


def _script_text(name: str) -> str:
    lua = files("ilpnet.connector.store").joinpath("lua")
    return lua.joinpath("lib.lua").read_text() + "\n" + lua.joinpath(name).read_text()


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and its SHA-1, run with EVALSHA."""

    text: str
    sha: str

    @classmethod
    def named(cls, name: str) -> Script:
        text = _script_text(name)
        return cls(text, hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest())


def _pairs(flat: list[Any]) -> dict[str, Any]:
    """A flat HGETALL reply as a dict."""
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _time(value: datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError("expiry times must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _packet_fields(packet: InFlight) -> tuple[int, list[str]]:
    """The pending zset's score for `packet` (its outgoing expiry in ms) and its hash's
    fields as name, value pairs (all but the state)."""
    fields = {
        "incoming_account": packet.incoming_account,
        "incoming_amount": str(packet.incoming_amount),
        "outgoing_account": packet.outgoing_account,
        "outgoing_amount": str(packet.outgoing_amount),
        "condition": packet.condition.hex(),
        "incoming_expires_at": _time(packet.incoming_expires_at),
        "outgoing_expires_at": _time(packet.outgoing_expires_at),
    }
    score = int(packet.outgoing_expires_at.timestamp() * 1000)
    return score, [x for pair in fields.items() for x in pair]


class RedisStore:
    """Balances, in-flight packets and settlements in one Redis database."""

    def __init__(self, client: RespClient, prefix: str = "ilpnet") -> None:
        self._redis = client
        self.prefix = prefix
        self._accounts = f"{prefix}:accounts"
        self._pending = f"{prefix}:pending"
        self._finished = f"{prefix}:finished"
        self._scratch = f"{prefix}:scratch"
        self._holds = f"{prefix}:holds"
        self._reserve = Script.named("reserve_incoming.lua")
        self._end_hold_script = Script.named("end_hold.lua")
        self._adjust = Script.named("adjust.lua")
        self._begin = Script.named("begin_packet.lua")
        self._reserve_begin = Script.named("reserve_and_begin.lua")
        self._finish = Script.named("finish_packet.lua")
        self._settle = Script.named("begin_settlement.lua")
        self._settled_once = Script.named("settled.lua")

    async def _run(self, script: Script, keys: list[str], args: list[str]) -> Any:
        """EVALSHA; if the server lost the script (restart, SCRIPT FLUSH) load it and run
        this call again (it did not run)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._redis.call(*command)
        except RespError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self._redis.call("SCRIPT", "LOAD", script.text)
        return await self._redis.call(*command)

    @classmethod
    async def connect(cls, url: str, prefix: str = "ilpnet") -> RedisStore:
        """Connect to `url` (redis://host:port/db), check the server answers, load the
        scripts."""
        client = RespClient(url)
        await client.call("PING")
        store = cls(client, prefix)
        for script in (
            store._reserve,
            store._end_hold_script,
            store._adjust,
            store._begin,
            store._reserve_begin,
            store._finish,
            store._settle,
            store._settled_once,
        ):
            await client.call("SCRIPT", "LOAD", script.text)
        return store

    def _bal(self, account: str) -> str:
        return f"{self.prefix}:bal:{account}"

    def _pkt(self, packet_id: str) -> str:
        return f"{self.prefix}:pkt:{packet_id}"

    async def _add(self, account: str, balance: int, pending_in: int, pending_out: int) -> None:
        ok, _ = await self._run(
            self._adjust,
            keys=[self._bal(account), self._accounts, self._scratch],
            args=[account, str(balance), str(pending_in), str(pending_out)],
        )
        if int(ok) != 1:
            raise ValueError("balance would overflow")

    async def reserve_incoming(
        self,
        packet_id: str,
        account: str,
        amount: int,
        maximum: int | None,
        expires_at: datetime,
    ) -> int:
        check_amount(amount, limited=False)
        limit = INT64_MAX if maximum is None else min(maximum, INT64_MAX)
        if limit < INT64_MIN:
            limit = INT64_MIN
        ok, value = await self._run(
            self._reserve,
            keys=[self._bal(account), self._accounts, self._scratch, self._holds],
            args=[account, str(amount), str(limit), packet_id, _time(expires_at)],
        )
        if int(ok) == -1:
            raise ValueError(f"packet already has a hold: {packet_id}")
        if int(ok) != 1:
            raise InsufficientLiquidityError(
                f"exceeded maximum balance. account={account} balance={_text(value)} "
                f"amount={amount} maximum={limit}"
            )
        return int(value)

    async def commit_incoming(self, packet_id: str) -> bool:
        return await self._end_hold(packet_id, PacketState.FULFILLED)

    async def release_incoming(self, packet_id: str) -> bool:
        return await self._end_hold(packet_id, PacketState.REJECTED)

    async def _end_hold(self, packet_id: str, outcome: PacketState) -> bool:
        ended = await self._run(
            self._end_hold_script,
            keys=[self._holds, self._accounts, self._scratch],
            args=[packet_id, outcome.value, f"{self.prefix}:bal:"],
        )
        if int(ended) == -1:
            raise ValueError("balance would overflow")
        return int(ended) == 1

    async def held_incoming(self) -> list[Hold]:
        found = []
        for packet_id, value in _pairs(await self._redis.call("HGETALL", self._holds)).items():
            amount, expires_at, account = _text(value).split(" ", 2)
            found.append(Hold(packet_id, account, int(amount), datetime.fromisoformat(expires_at)))
        return sorted(found, key=lambda h: (h.expires_at, h.packet_id))

    @staticmethod
    def _book(account: str, raw: list[Any]) -> Balance:
        book = {k: int(v) for k, v in _pairs(raw).items()}
        return Balance(
            account, book.get("balance", 0), book.get("pending_in", 0), book.get("pending_out", 0)
        )

    async def get_balance(self, account: str) -> Balance:
        return self._book(account, await self._redis.call("HGETALL", self._bal(account)))

    async def all_balances(self) -> list[Balance]:
        names = sorted(_text(a) for a in await self._redis.call("SMEMBERS", self._accounts))
        rows = await asyncio.gather(
            *(self._redis.call("HGETALL", self._bal(name)) for name in names)
        )
        return [self._book(n, r) for n, r in zip(names, rows, strict=True)]

    async def begin_packet(self, packet: InFlight, minimum: int | None) -> None:
        check_amount(packet.incoming_amount)
        check_amount(packet.outgoing_amount, limited=False)
        limit = INT64_MIN if minimum is None else max(minimum, INT64_MIN)
        limit = min(limit, INT64_MAX)
        score, flat = _packet_fields(packet)
        ok, value = await self._run(
            self._begin,
            keys=[
                self._bal(packet.outgoing_account),
                self._pkt(packet.packet_id),
                self._pending,
                self._accounts,
                self._scratch,
                self._holds,
            ],
            args=[
                packet.outgoing_account,
                str(-packet.outgoing_amount),
                str(limit),
                packet.packet_id,
                str(score),
                packet.incoming_account,
                str(packet.incoming_amount),
                *flat,
            ],
        )
        if int(ok) == -1:
            raise ValueError(f"packet already recorded: {packet.packet_id}")
        if int(ok) == -2:
            raise TransferTimedOutError("packet expired.")
        if int(ok) == -3:
            raise ValueError(f"the hold of packet {packet.packet_id} is for another amount")
        if int(ok) != 1:
            raise InsufficientLiquidityError(
                f"exceeded minimum balance. account={packet.outgoing_account} "
                f"available={_text(value)} amount={packet.outgoing_amount} minimum={limit}"
            )

    async def reserve_and_begin(
        self, packet: InFlight, maximum: int | None, minimum: int | None
    ) -> None:
        account, amount = packet.incoming_account, packet.incoming_amount
        out_account, out_amount = packet.outgoing_account, packet.outgoing_amount
        check_amount(amount, limited=False)
        check_amount(out_amount, limited=False)
        most = INT64_MAX if maximum is None else max(min(maximum, INT64_MAX), INT64_MIN)
        least = INT64_MIN if minimum is None else min(max(minimum, INT64_MIN), INT64_MAX)
        score, flat = _packet_fields(packet)
        ok, value = await self._run(
            self._reserve_begin,
            keys=[
                self._bal(account),
                self._bal(out_account),
                self._pkt(packet.packet_id),
                self._pending,
                self._accounts,
                self._scratch,
            ],
            args=[
                account,
                str(amount),
                str(most),
                out_account,
                str(-out_amount),
                str(least),
                packet.packet_id,
                str(score),
                *flat,
            ],
        )
        if int(ok) == 0:
            raise InsufficientLiquidityError(
                f"exceeded maximum balance. account={account} balance={_text(value)} "
                f"amount={amount} maximum={most}"
            )
        if int(ok) == -1:
            raise ValueError(f"packet already recorded: {packet.packet_id}")
        if int(ok) != 1:
            raise InsufficientLiquidityError(
                f"exceeded minimum balance. account={out_account} "
                f"available={_text(value)} amount={out_amount} minimum={least}"
            )

    async def finish_packet(self, packet_id: str, outcome: PacketState) -> bool:
        if outcome is PacketState.PENDING:
            raise ValueError("a packet cannot finish as pending")
        won = await self._run(
            self._finish,
            keys=[self._pkt(packet_id), self._pending, self._finished, self._scratch],
            args=[packet_id, outcome.value, f"{self.prefix}:bal:"],
        )
        if int(won) == -1:
            raise ValueError("balance would overflow")
        return int(won) == 1

    def _packet(self, packet_id: str, raw: list[Any]) -> InFlight | None:
        if not raw:
            return None
        f = {k: _text(v) for k, v in _pairs(raw).items()}
        return InFlight(
            packet_id=packet_id,
            incoming_account=f["incoming_account"],
            incoming_amount=int(f["incoming_amount"]),
            outgoing_account=f["outgoing_account"],
            outgoing_amount=int(f["outgoing_amount"]),
            condition=bytes.fromhex(f["condition"]),
            incoming_expires_at=datetime.fromisoformat(f["incoming_expires_at"]),
            outgoing_expires_at=datetime.fromisoformat(f["outgoing_expires_at"]),
            state=PacketState(f["state"]),
        )

    async def get_packet(self, packet_id: str) -> InFlight | None:
        raw = await self._redis.call("HGETALL", self._pkt(packet_id))
        return self._packet(packet_id, raw)

    async def pending_packets(self) -> list[InFlight]:
        ids = [_text(i) for i in await self._redis.call("ZRANGE", self._pending, 0, -1)]
        rows = await asyncio.gather(
            *(self._redis.call("HGETALL", self._pkt(packet_id)) for packet_id in ids)
        )
        found = [self._packet(i, r) for i, r in zip(ids, rows, strict=True)]
        return [p for p in found if p is not None and p.state is PacketState.PENDING]

    async def prune_finished(self) -> int:
        """In chunks of `PRUNE_CHUNK` ids, so neither the server nor this process spends
        one long stretch on tens of thousands of ended packets."""
        total = 0
        while True:
            raw = await self._redis.call("SRANDMEMBER", self._finished, str(PRUNE_CHUNK))
            ids = [_text(i) for i in raw]
            if not ids:
                return total
            await asyncio.gather(
                self._redis.call("DEL", *(self._pkt(i) for i in ids)),
                self._redis.call("SREM", self._finished, *ids),
            )
            total += len(ids)
            if len(ids) < PRUNE_CHUNK:
                return total

    async def begin_settlement(
        self, account: str, threshold: int, settle_to: int, key: str | None = None
    ) -> int:
        decision = "" if key is None else f"{self.prefix}:settle-decision:{key}"
        amount = await self._run(
            self._settle,
            keys=[self._bal(account), self._accounts, self._scratch, decision],
            args=[account, str(threshold), str(settle_to), str(SETTLEMENT_KEY_TTL_S)],
        )
        return int(amount)

    async def settled_outgoing(
        self, account: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        check_amount(amount)
        return await self._settled(account, amount, idempotency_key)

    async def settled_incoming(
        self, account: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        check_amount(amount)
        return await self._settled(account, -amount, idempotency_key)

    async def _settled(self, account: str, delta: int, key: str | None) -> bool:
        key_name = "" if key is None else f"{self.prefix}:settlement:{key}"
        ok, _ = await self._run(
            self._settled_once,
            keys=[self._bal(account), self._accounts, self._scratch, key_name],
            args=[account, str(delta), str(SETTLEMENT_KEY_TTL_S)],
        )
        if int(ok) == 0:
            raise ValueError("balance would overflow")
        return int(ok) == 1

    async def close(self) -> None:
        await self._redis.close()
