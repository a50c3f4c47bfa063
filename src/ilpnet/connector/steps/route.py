"""Pick the outgoing account by longest prefix (spec 03 §2 steps 7-9): F02 when none.

Destinations under the connector's own address go only to routes under that address (its
children): a default route must not send them back out.
"""

from __future__ import annotations

from collections.abc import Mapping

from ilpnet.connector.accounts import AccountSettings
from ilpnet.connector.errors import UnreachableError
from ilpnet.connector.pipeline import Forward, Handler, Step
from ilpnet.connector.routing_table import RoutingTable
from ilpnet.wire.address import starts_with_prefix
from ilpnet.wire.packet import Fulfill, Reject


class Router:
    """Picks the outgoing account of a destination (the step's logic, callable alone)."""

    __slots__ = ("accounts", "address", "live", "reflect", "table")

    def __init__(
        self,
        address: str,
        table: RoutingTable,
        accounts: Mapping[str, AccountSettings],
        *,
        reflect: bool = True,
    ) -> None:
        self.address = address
        self.table = table
        self.accounts = accounts
        self.reflect = reflect
        self.live = address.startswith("g.")

    def next_hop(self, incoming: str, destination: str) -> AccountSettings:
        """The account to forward to a Prepare from account `incoming`; F02 when none."""
        live = self.live
        if live != destination.startswith("g."):
            network = "live" if live else "test"
            raise UnreachableError(
                f"destination is not on this {network} network. destination={destination}"
            )
        found = self.table.lookup(destination)
        # Under our own address only our own (more specific) routes count: a catch-all
        # towards a peer would bounce the packet back and forth until it expires.
        address = self.address
        if found is None or (
            starts_with_prefix(destination, address)
            and not starts_with_prefix(found.prefix, address)
        ):
            raise UnreachableError(f"no route found. destination={destination}")
        if not self.reflect and found.next_hop == incoming:
            raise UnreachableError(
                f"refusing to route back to the sender. account={found.next_hop}"
            )
        out_account = self.accounts.get(found.next_hop)
        if out_account is None:
            raise UnreachableError(f"route to an unknown account. account={found.next_hop}")
        return out_account


def route(
    address: str,
    table: RoutingTable,
    accounts: Mapping[str, AccountSettings],
    *,
    reflect: bool = True,
) -> Step:
    router = Router(address, table, accounts, reflect=reflect)

    async def step(fwd: Forward, next_: Handler) -> Fulfill | Reject:
        out_account = router.next_hop(fwd.account.id, fwd.prepare.destination)
        return await next_(fwd.with_out_account(out_account))

    return step
