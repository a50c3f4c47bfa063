"""Prometheus metrics of one connector, in its own registry (several may share a process).

Label sets are bounded: account ids come from configuration, codes from the ILP code list
(anything else is counted as "other").
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ilpnet.clock import Clock, SystemClock
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
_LATENCY_NAME = "ilpnet_packet_seconds"
_LATENCY_HELP = "Time from receiving a Prepare to answering it, by next hop"
_LE = (*(floatToGoString(b) for b in LATENCY_BUCKETS), "+Inf")  # type: ignore[no-untyped-call]


class _Latency:
    """One next hop's histogram: a count per bucket (not cumulative), the sum, and when
    its first figure came (what a prometheus-client `Histogram` child shows)."""

    __slots__ = ("counts", "created", "total")

    def __init__(self, created: float) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.created = created


class _LatencyCollector(Collector):
    """`ilpnet_packet_seconds`, as a prometheus-client `Histogram` labelled by next hop
    would export it, from plain counts: `Histogram.observe` takes a lock and walks the
    buckets in Python, per packet."""

    def __init__(self) -> None:
        self.by_outgoing: dict[str, _Latency] = {}

    def describe(self) -> Iterator[Metric]:
        yield HistogramMetricFamily(_LATENCY_NAME, _LATENCY_HELP, labels=["outgoing"])

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(_LATENCY_NAME, _LATENCY_HELP, labels=["outgoing"])
        for outgoing, latency in list(self.by_outgoing.items()):
            cumulative = 0.0
            buckets: list[tuple[str, float]] = []
            for le, count in zip(_LE, latency.counts, strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric([outgoing], buckets, latency.total)
            family.add_sample(f"{_LATENCY_NAME}_created", {"outgoing": outgoing}, latency.created)
        yield family


class ConnectorMetrics:
    """Counts packets by result and code, amounts by account, and time spent per next hop.

    Read the figures with `exposition()`: the counters catch up on the packets seen since
    the last read only then (the latency histogram is kept in plain counts, read then too).
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, clock: Clock | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._clock: Clock = clock or SystemClock()
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
        self._latency = _LatencyCollector()
        self.registry.register(self._latency)

        # Counts are summed in plain dicts and added to the counters when the registry is
        # read (`exposition`): a prometheus update takes a lock, several per packet.
        self._packet_counts: dict[tuple[str, str, str, str], int] = {}
        self._amount_sums: dict[tuple[str, str], int] = {}

    def observe(self, fwd: Forward, answer: Fulfill | Reject, seconds: float) -> None:
        facts = fwd.facts
        self.count_packet(
            fwd.account.id,
            facts.out_account,
            fwd.prepare.amount,
            facts.out_amount,
            answer.code if isinstance(answer, Reject) else "",
            seconds,
        )

    def count_packet(
        self,
        incoming: str,
        out_account: str,
        amount: int,
        out_amount: int,
        code: str,
        seconds: float,
    ) -> None:
        """`observe` from plain values: the packet from `incoming` forwarded to
        `out_account` ("" if it was not), its amounts in and out, the code of our Reject
        ("" for a Fulfill) and the seconds spent."""
        outgoing = out_account or "-"
        if code:
            key = ("rejected", code if code in KNOWN_CODES else "other", incoming, outgoing)
        else:
            key = ("fulfilled", "", incoming, outgoing)
            sums = self._amount_sums
            if amount:
                sums[incoming, "in"] = sums.get((incoming, "in"), 0) + amount
            if out_amount:
                sums[outgoing, "out"] = sums.get((outgoing, "out"), 0) + out_amount
        counts = self._packet_counts
        counts[key] = counts.get(key, 0) + 1
        latency = self._latency.by_outgoing.get(outgoing)
        if latency is None:
            latency = self._latency.by_outgoing[outgoing] = _Latency(self._clock.now().timestamp())
        latency.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency.total += seconds

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
