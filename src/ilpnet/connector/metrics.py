"""Prometheus metrics of one connector, in its own registry (several may share a process).

Label sets are bounded: account ids come from configuration, codes from the ILP code list
(anything else is counted as "other").
"""

from __future__ import annotations

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
    """Counts packets by result and code, amounts by account, and time spent per next hop."""

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

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None:
        outgoing = fwd.facts.out_account or "-"
        incoming = fwd.account.id
        if isinstance(answer, Fulfill):
            self.packets.labels("fulfilled", "", incoming, outgoing).inc()
            amount = fwd.prepare.amount
            if amount:
                self.amounts.labels(incoming, "in").inc(amount)
            if fwd.facts.out_amount:
                self.amounts.labels(outgoing, "out").inc(fwd.facts.out_amount)
        else:
            code = answer.code if answer.code in KNOWN_CODES else "other"
            self.packets.labels("rejected", code, incoming, outgoing).inc()
        self.latency.labels(outgoing).observe(seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
