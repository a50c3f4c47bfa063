"""Prometheus metrics of one connector, in its own registry (several may share a process).

Label sets are bounded: account ids come from configuration, codes from the ILP code list
(anything else is counted as "other").
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ilpnet.connector.pipeline import Forward
from ilpnet.wire.errors import ErrorCode
from ilpnet.wire.packet import Fulfill, Reject

KNOWN_CODES = frozenset(c.value for c in ErrorCode)
LATENCY_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class ConnectorMetrics:
    """Counts packets by result and code, amounts by account, and time spent per next hop.

    Read the figures with `exposition()`: the counters catch up on the packets seen since
    the last read only then (the latency histogram is always current)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.packets = Counter(
            "ilpnet_packets",
            "Prepares answered, by result (fulfilled/rejected) and reject code",
            ["result", "code", "incoming", "outgoing"],
            registry=self.registry,
        )
        self.amounts = Counter(
            "ilpnet_fulfilled_amount",
            "Amounts of fulfilled packets, in each account's units",
            ["account", "direction"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ilpnet_packet_seconds",
            "Time from receiving a Prepare to answering it, by next hop",
            ["outgoing"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        # Counts are summed in plain dicts and added to the counters when the registry is
        # read (`exposition`): a prometheus update takes a lock, several per packet.
        self._packet_counts: dict[tuple[str, str, str, str], int] = {}
        self._amount_sums: dict[tuple[str, str], int] = {}
        self._latency: dict[str, Any] = {}
        """Histogram children by label value: `labels()` costs more than `observe`."""

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None:
        outgoing = fwd.facts.out_account or "-"
        incoming = fwd.account.id
        if isinstance(answer, Fulfill):
            key = ("fulfilled", "", incoming, outgoing)
            sums = self._amount_sums
            amount = fwd.prepare.amount
            if amount:
                sums[incoming, "in"] = sums.get((incoming, "in"), 0) + amount
            out_amount = fwd.facts.out_amount
            if out_amount:
                sums[outgoing, "out"] = sums.get((outgoing, "out"), 0) + out_amount
        else:
            code = answer.code if answer.code in KNOWN_CODES else "other"
            key = ("rejected", code, incoming, outgoing)
        counts = self._packet_counts
        counts[key] = counts.get(key, 0) + 1
        latency = self._latency.get(outgoing)
        if latency is None:
            latency = self._latency[outgoing] = self.latency.labels(outgoing)
        latency.observe(seconds)

    def _publish(self) -> None:
        """Add the counts summed since the last call to the counters."""
        counts, self._packet_counts = self._packet_counts, {}
        for labels, count in counts.items():
            self.packets.labels(*labels).inc(count)
        sums, self._amount_sums = self._amount_sums, {}
        for (account, direction), total in sums.items():
            self.amounts.labels(account, direction).inc(total)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        self._publish()
        return generate_latest(self.registry)
