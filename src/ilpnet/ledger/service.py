"""One running ledger without its HTTP face: store, group-commit writer, notifications,
the expiry task (escrow roll-back, channel close completion) and authentication."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import structlog

from ilpnet.clock import Clock
from ilpnet.ledger import errors
from ilpnet.ledger.commit_queue import CommitQueue
from ilpnet.ledger.events import EventHub
from ilpnet.ledger.faucet import Faucet, FaucetPolicy
from ilpnet.ledger.models import Books, Json, LedgerInfo, to_millis
from ilpnet.ledger.store import BatchResult, LedgerStore, hash_secret

log = structlog.get_logger(__name__)

MAX_SETTLE_DELAY_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    name: str
    asset_code: str
    asset_scale: int
    fee: int = 0
    close_interval_ms: int = 0
    faucet: FaucetPolicy | None = None

    @property
    def faucet_policy(self) -> FaucetPolicy:
        return self.faucet or FaucetPolicy(max_amount=1000 * 10**self.asset_scale)

    @property
    def info(self) -> LedgerInfo:
        return LedgerInfo(
            name=self.name,
            asset_code=self.asset_code,
            asset_scale=self.asset_scale,
            fee=self.fee,
            close_interval_ms=self.close_interval_ms,
            faucet_max=self.faucet_policy.max_amount,
        )


class Ledger:
    """Use as `async with Ledger(config, db, clock) as ledger:`."""

    def __init__(self, config: LedgerConfig, db_path: Path | str, clock: Clock) -> None:
        self.config = config
        self.info = config.info
        self.clock = clock
        self.store = LedgerStore(db_path, self.info)
        self.hub = EventHub()
        self.faucet = Faucet(config.faucet_policy, clock)
        self.queue = CommitQueue(
            self.store,
            clock,
            close_interval_ms=config.close_interval_ms,
            on_commit=self._committed,
        )
        self._deadline_changed = asyncio.Event()
        self._secrets: dict[str, bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Ledger:
        self._tasks = [
            asyncio.create_task(self.queue.run(), name="ledger-writer"),
            asyncio.create_task(self._expiry_loop(), name="ledger-expiry"),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.hub.close_all()
        self.queue.shutdown()
        self.store.close()

    def _committed(self, result: BatchResult) -> None:
        self.hub.publish(result.events)
        if result.deadline_changed:
            self._deadline_changed.set()

    async def _expiry_loop(self) -> None:
        while True:
            self._deadline_changed.clear()
            deadline = self.store.next_deadline_ms()
            now = to_millis(self.clock.now())
            if deadline is not None and deadline <= now:
                try:
                    done = await self.queue.submit(self.store.expire_due)
                    log.info("ledger.expired", ledger=self.info.name, **done)
                except Exception:  # a failed commit (disk full...): retry, do not spin
                    log.exception("ledger.expiry_failed", ledger=self.info.name)
                    await self.clock.sleep(1.0)
                continue
            waits: list[asyncio.Future[object]] = [
                asyncio.ensure_future(self._deadline_changed.wait())
            ]
            if deadline is not None:
                waits.append(asyncio.ensure_future(self._sleep_until(deadline)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    async def _sleep_until(self, deadline_ms: int) -> None:
        # reads the time when the sleep starts, so a clock moved meanwhile is accounted for
        await self.clock.sleep((deadline_ms - to_millis(self.clock.now())) / 1000)

    # ---- authentication -----------------------------------------------------------------

    def authenticate(self, name: str, secret: str) -> str:
        """The account name if `secret` is its secret; else `Unauthorized`."""
        stored = self._secrets.get(name)
        if stored is None:
            stored = self.store.secret_hash(name)
            if stored is None:
                raise errors.Unauthorized(f"no account {name!r} with that secret")
            self._secrets[name] = stored
        if not hmac.compare_digest(stored, hash_secret(secret)):
            raise errors.Unauthorized(f"no account {name!r} with that secret")
        return name

    # ---- reads --------------------------------------------------------------------------

    def account(self, name: str) -> Json:
        return self.store.account(name)

    def books(self) -> Books:
        return self.store.books()

    def escrow(self, account: str, escrow_id: str) -> Json:
        escrow = self.store.escrow(escrow_id)
        if account not in (escrow["from"], escrow["to"]):
            raise errors.Forbidden(f"account {account!r} is not a party to escrow {escrow_id}")
        return escrow

    def channel(self, account: str, channel_id: str) -> Json:
        channel = self.store.channel(channel_id)
        if account not in (channel["from"], channel["to"]):
            raise errors.Forbidden(f"account {account!r} is not a party to channel {channel_id}")
        return channel

    # ---- writes -------------------------------------------------------------------------

    async def create_account(self, name: str, secret: str) -> Json:
        return await self.queue.submit(
            partial(self.store.create_account, name=name, secret_hash=hash_secret(secret))
        )

    async def mint(self, account: str, request_id: str, amount: int, client: str) -> Json:
        if not self.store.has_request(account, request_id):
            self.faucet.admit(account, client, amount)
        return await self.queue.submit(
            partial(self.store.mint, account=account, request_id=request_id, amount=amount)
        )

    async def transfer(self, sender: str, request_id: str, receiver: str, amount: int) -> Json:
        return await self.queue.submit(
            partial(
                self.store.transfer,
                sender=sender,
                request_id=request_id,
                receiver=receiver,
                amount=amount,
            )
        )

    async def create_escrow(
        self,
        sender: str,
        request_id: str,
        receiver: str,
        amount: int,
        condition: bytes,
        expires_at: datetime,
        memo: bytes,
    ) -> Json:
        return await self.queue.submit(
            partial(
                self.store.create_escrow,
                sender=sender,
                request_id=request_id,
                receiver=receiver,
                amount=amount,
                condition=condition,
                expires_ms=to_millis(expires_at),
                memo=memo,
            )
        )

    async def fulfil_escrow(
        self, account: str, request_id: str, escrow_id: str, preimage: bytes
    ) -> Json:
        return await self.queue.submit(
            partial(
                self.store.fulfil_escrow,
                account=account,
                request_id=request_id,
                escrow_id=escrow_id,
                preimage=preimage,
            )
        )

    async def open_channel(
        self,
        sender: str,
        request_id: str,
        receiver: str,
        amount: int,
        settle_delay_ms: int,
        public_key: bytes,
    ) -> Json:
        return await self.queue.submit(
            partial(
                self.store.open_channel,
                sender=sender,
                request_id=request_id,
                receiver=receiver,
                amount=amount,
                settle_delay_ms=settle_delay_ms,
                public_key=public_key,
            )
        )

    async def fund_channel(
        self, account: str, request_id: str, channel_id: str, amount: int
    ) -> Json:
        return await self.queue.submit(
            partial(
                self.store.fund_channel,
                account=account,
                request_id=request_id,
                channel_id=channel_id,
                amount=amount,
            )
        )

    async def redeem_claim(
        self,
        account: str,
        request_id: str,
        channel_id: str,
        amount: int,
        signature: bytes,
        close: bool,
    ) -> Json:
        return await self.queue.submit(
            partial(
                self.store.redeem_claim,
                account=account,
                request_id=request_id,
                channel_id=channel_id,
                amount=amount,
                signature=signature,
                close=close,
            )
        )

    async def close_channel(self, account: str, request_id: str, channel_id: str) -> Json:
        return await self.queue.submit(
            partial(
                self.store.close_channel,
                account=account,
                request_id=request_id,
                channel_id=channel_id,
            )
        )
