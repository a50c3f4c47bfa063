"""What the connector keeps in its store, one Protocol per capability.

Balances are signed 64-bit integers in the account's own units; positive means the peer
owes us (spec 03 §6). Per account the store keeps:

* ``balance``: settled and fulfilled amounts plus incoming Prepares reserved but not yet
  ended (an incoming reservation counts at once, so the maximum check sees it);
* ``pending_in``: the part of ``balance`` that is reserved incoming, not yet final;
* ``pending_out``: outgoing Prepares in flight; they leave ``balance`` only when fulfilled,
  but count against the minimum from the moment they are forwarded.

Every reservation has an owner in the store, so a crash at any moment leaves nothing that
a restart cannot end. An incoming reservation is kept as a `Hold` under its packet's id
(`BalanceStore.reserve_incoming`, in the same atomic step as the balance change); the
in-flight record takes it over when the packet is recorded with its outgoing reservation
(`PacketStore.begin_packet`, one atomic step), and the packet is ended with both of its
balance effects in another (`PacketStore.finish_packet`), which only the first caller
wins: a fulfill that arrives after the packet was expired is never paid twice. A hold its
packet never took over (the process died between the two steps) is released once its
Prepare has expired (`Connector.sweep`), as a pending packet is.
Every check-and-update is atomic in the backend (one Python critical section, an SQLite
``BEGIN IMMEDIATE`` transaction, a Redis Lua script), so concurrent workers never race past
a limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeGuard

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def check_book(balance: int, pending_in: int, pending_out: int) -> None:
    """Every figure of a book stays a signed 64-bit integer (what SQLite and Redis hold)."""
    for value in (balance, pending_in, pending_out):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("balance would overflow")


def check_amount(amount: int, *, limited: bool = True) -> None:
    """Amounts are never negative; where a limit check follows (`limited=False`), one too
    big for int64 is left to that check, which refuses it with T04."""
    if amount < 0 or (limited and amount > INT64_MAX):
        raise ValueError(f"amount out of range: {amount}")


class PacketState(StrEnum):
    """Life of one forwarded packet; only PENDING may change, and only once."""

    PENDING = "pending"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Balance:
    """One account's book, as read from the store."""

    account: str
    balance: int = 0
    pending_in: int = 0
    pending_out: int = 0

    @property
    def available_out(self) -> int:
        """What the balance would be if every outgoing packet in flight were fulfilled."""
        return self.balance - self.pending_out


@dataclass(frozen=True, slots=True)
class Hold:
    """An incoming reservation not yet taken over by its packet's in-flight record."""

    packet_id: str
    account: str
    amount: int
    expires_at: datetime
    """The Prepare's expiry: after it, the packet can no longer be recorded."""


@dataclass(slots=True)
class InFlight:
    """A Prepare we forwarded and have not answered yet: how its answer finds its way back.

    Not frozen, for speed alone (one is made per packet; a frozen dataclass's constructor
    took 0.87 µs against 0.17): nothing changes one once made, and the stores copy it
    (`dataclasses.replace`) to give one in another state.
    """

    packet_id: str
    incoming_account: str
    incoming_amount: int
    outgoing_account: str
    outgoing_amount: int
    condition: bytes
    incoming_expires_at: datetime
    outgoing_expires_at: datetime
    state: PacketState = PacketState.PENDING


class BalanceStore(Protocol):
    """Per-account balances with atomic limit checks."""

    async def reserve_incoming(
        self,
        packet_id: str,
        account: str,
        amount: int,
        maximum: int | None,
        expires_at: datetime,
    ) -> int:
        """Add `amount` to the balance unless it would exceed `maximum` (None: no limit),
        and keep the reservation as the `Hold` of `packet_id` (the Prepare expiring at
        `expires_at`), in one atomic step.

        Returns the new balance; raises InsufficientLiquidityError (T04) and changes nothing
        when the limit would be broken; ValueError when `packet_id` already has a hold.
        """
        ...

    async def commit_incoming(self, packet_id: str) -> bool:
        """The packet was fulfilled without being recorded: its hold stays in the balance
        for good. False (nothing changed) when it has no hold."""
        ...

    async def release_incoming(self, packet_id: str) -> bool:
        """The packet ended in a Reject without being recorded (or its hold was left by a
        crash): take the hold back out of the balance. False (nothing changed) when it has
        no hold (taken over by the packet's record, or released already)."""
        ...

    async def held_incoming(self) -> list[Hold]:
        """Every hold not yet ended or taken over, earliest expiry first (for recovery)."""
        ...

    async def get_balance(self, account: str) -> Balance:
        """The account's current book (zeros for an account never seen)."""
        ...

    async def all_balances(self) -> list[Balance]:
        """Every account the store has a book for, sorted by account id."""
        ...


class PacketStore(Protocol):
    """In-flight packets, each ended exactly once together with its balance effects."""

    async def begin_packet(self, packet: InFlight, minimum: int | None) -> None:
        """Record `packet` and reserve its outgoing amount on the outgoing account.

        Raises InsufficientLiquidityError (T04) and records nothing when
        ``available_out - outgoing_amount`` would fall below `minimum` (None: no limit).
        The caller has already reserved a nonzero incoming amount (`reserve_incoming`
        under the same packet id, account and amount): the record takes that hold over in
        the same atomic step, and from here on `finish_packet` owns both reservations. When
        the hold is gone (released as left behind: the Prepare expired meanwhile), raises
        TransferTimedOutError (R00) and records nothing; ValueError when it is for another
        account or amount, or the packet id is recorded already.
        """
        ...

    async def reserve_and_begin(
        self, packet: InFlight, maximum: int | None, minimum: int | None
    ) -> None:
        """`reserve_incoming` and `begin_packet` of `packet` as one atomic step, with no
        hold between them (so nothing a crash could leave behind): the same checks in the
        same order, the same errors, and the same books after, as the two calls one after
        the other with nothing between them; when the second refuses, nothing is changed
        (the first's reservation included). (A hold already under the packet's id, which
        the pipeline never makes, is neither checked nor taken over.)"""
        ...

    async def finish_packet(self, packet_id: str, outcome: PacketState) -> bool:
        """End a pending packet; True only for the one call that moved it out of PENDING.

        FULFILLED commits both sides (incoming stays, outgoing leaves the balance);
        REJECTED and EXPIRED release both. A packet that is unknown or already ended is
        left as it is and the call returns False.
        """
        ...

    async def get_packet(self, packet_id: str) -> InFlight | None:
        """The packet's record (any state), or None when unknown or forgotten (ended
        records are kept for inspection until `prune_finished`; the memory store keeps
        only the latest ones)."""
        ...

    async def pending_packets(self) -> list[InFlight]:
        """Every packet still PENDING, oldest outgoing expiry first (for recovery)."""
        ...

    async def prune_finished(self) -> int:
        """Forget every ended packet still kept (they are kept only for inspection);
        returns how many."""
        ...


class SettlementStore(Protocol):
    """Balance changes made by settlements (spec 10 §2, §4.3)."""

    async def begin_settlement(
        self, account: str, threshold: int, settle_to: int, key: str | None = None
    ) -> int:
        """If the balance is below `threshold`, raise it to `settle_to` and return by how much.

        Returns 0 (and changes nothing) when the balance is not below the threshold (or the
        amount would not fit in a signed 64-bit integer). The
        caller then pays that amount: the store debits first, as RFC 0038 says, so two
        workers never settle the same debt twice.

        With a `key` the decision is kept with it, in the same atomic step: asking again
        with that key changes nothing and returns the amount decided the first time. A
        settler that journals the key before asking can thus learn, after a crash, whether
        the balance was raised and by how much (and pay it), without raising it twice.
        """
        ...

    async def settled_outgoing(
        self, account: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        """We paid the peer `amount` outside ILP: the balance goes up by it.

        With an `idempotency_key` (RFC 0038 §4.4) the change is made once per key: a
        repeated key changes nothing and returns False.
        """
        ...

    async def settled_incoming(
        self, account: str, amount: int, idempotency_key: str | None = None
    ) -> bool:
        """The peer paid us `amount` outside ILP: the balance goes down by it (once per
        `idempotency_key`, as `settled_outgoing`)."""
        ...


class Store(BalanceStore, PacketStore, SettlementStore, Protocol):
    """Everything a connector keeps; each backend implements all of it."""

    async def close(self) -> None: ...


class SyncStore(Store, Protocol):
    """A store whose per-packet operations also complete without awaiting (the memory
    store): each ``*_now`` method is its async namesake, answered at once. The connector's
    direct path (`ilpnet.connector.direct_path`) needs one."""

    def reserve_incoming_now(
        self,
        packet_id: str,
        account: str,
        amount: int,
        maximum: int | None,
        expires_at: datetime,
    ) -> int: ...

    def commit_incoming_now(self, packet_id: str) -> bool: ...

    def release_incoming_now(self, packet_id: str) -> bool: ...

    def begin_packet_now(self, packet: InFlight, minimum: int | None) -> None: ...

    def reserve_and_begin_now(
        self, packet: InFlight, maximum: int | None, minimum: int | None
    ) -> None: ...

    def finish_packet_now(self, packet_id: str, outcome: PacketState) -> bool: ...


_NOW_METHODS = tuple(name for name in vars(SyncStore) if name.endswith("_now"))


def answers_at_once(store: Store) -> TypeGuard[SyncStore]:
    """Whether `store` has the ``*_now`` methods of `SyncStore`."""
    return all(callable(getattr(store, name, None)) for name in _NOW_METHODS)
