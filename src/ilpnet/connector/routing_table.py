"""Longest-prefix routing table: which account a destination goes to.

Prefixes match segment-aligned (spec 01 §4): `test.alice` matches `test.alice` and
`test.alice.x`, not `test.alice2`; the empty prefix is a catch-all. Each prefix may hold
several candidate routes, one per *source*: ``static`` (configuration), ``local`` (our own
children, added by the connector) or the id of the peer account that announced it (CCP).
The best candidate per prefix wins: static and local first, then the highest priority
(the caller's, e.g. by relation), then the shortest announced path, then the lowest source
id, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ilpnet.wire.address import address_prefixes, is_valid_prefix
from ilpnet.wire.errors import InvalidValueError

STATIC = "static"
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Route:
    """One candidate: packets for `prefix` go out on account `next_hop`."""

    prefix: str
    next_hop: str
    source: str = STATIC
    path: tuple[str, ...] = ()
    priority: int = 0
    """Among learnt routes, higher wins before path length (e.g. by the announcing
    account's relation: child 2, peer 1, parent 0, as the reference connector does)."""

    def __post_init__(self) -> None:
        if not is_valid_prefix(self.prefix):
            raise InvalidValueError(f"invalid route prefix {self.prefix!r}")
        if not self.next_hop:
            raise InvalidValueError("a route needs a next hop account")

    @property
    def rank(self) -> tuple[int, int, int, str]:
        configured = self.source in (STATIC, LOCAL)
        return (0 if configured else 1, -self.priority, len(self.path), self.source)


LOOKUPS_KEPT = 4096
_UNKNOWN = object()


class RoutingTable:
    """Candidates per prefix and the best one per prefix, for O(segments) lookups."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._candidates: dict[str, dict[str, Route]] = {}
        self._best: dict[str, Route] = {}
        self._found: dict[str, Route | None] = {}
        """What `lookup` answered per destination since the best routes last changed
        (packets of one payment share their destination); at most `LOOKUPS_KEPT`."""
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> bool:
        """Add or replace the candidate from `route.source`; True if the best route changed."""
        self._candidates.setdefault(route.prefix, {})[route.source] = route
        return self._choose(route.prefix)

    def add_static(self, prefix: str, next_hop: str) -> bool:
        return self.add(Route(prefix, next_hop, STATIC))

    def add_learnt(
        self,
        prefix: str,
        next_hop: str,
        source: str,
        path: Iterable[str] = (),
        priority: int = 0,
    ) -> bool:
        """A route announced by peer `source` (normally `next_hop` itself)."""
        if source in (STATIC, LOCAL):
            raise InvalidValueError(f"{source!r} is reserved for configured routes")
        return self.add(Route(prefix, next_hop, source, tuple(path), priority))

    def withdraw(self, prefix: str, source: str) -> bool:
        """Drop `source`'s candidate for `prefix`; True if the best route changed."""
        found = self._candidates.get(prefix)
        if not found or found.pop(source, None) is None:
            return False
        if not found:
            del self._candidates[prefix]
        return self._choose(prefix)

    def withdraw_source(self, source: str) -> list[str]:
        """Drop every candidate from `source` (a peer went away); the prefixes whose best
        route changed."""
        changed = []
        for prefix in [p for p, c in self._candidates.items() if source in c]:
            if self.withdraw(prefix, source):
                changed.append(prefix)
        return changed

    def _choose(self, prefix: str) -> bool:
        self._found.clear()
        before = self._best.get(prefix)
        found = self._candidates.get(prefix)
        if not found:
            self._best.pop(prefix, None)
            return before is not None
        best = min(found.values(), key=lambda r: r.rank)
        self._best[prefix] = best
        return best != before

    def lookup(self, destination: str) -> Route | None:
        """The best route of the longest prefix matching `destination`, or None."""
        found = self._found
        route = found.get(destination, _UNKNOWN)
        if route is not _UNKNOWN:
            return route  # type: ignore[return-value]  # (a Route or None)
        best = self._best
        for prefix in address_prefixes(destination):
            route = best.get(prefix)
            if route is not None:
                break
        else:
            route = best.get("")
        if len(found) >= LOOKUPS_KEPT:
            found.clear()
        found[destination] = route
        return route

    def routes(self) -> list[Route]:
        """The best route of every prefix, sorted by prefix."""
        return [self._best[p] for p in sorted(self._best)]

    def candidates(self, prefix: str) -> list[Route]:
        """Every candidate for `prefix`, best first."""
        return sorted(self._candidates.get(prefix, {}).values(), key=lambda r: r.rank)
