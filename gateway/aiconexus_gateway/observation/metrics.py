"""What one gateway process counts, and its Prometheus exposition (prometheus-client).

The hot path only adds to plain fields of :class:`Metrics` (``metrics.routed += 1``,
``metrics.rejected[code] += 1``, ``metrics.route_latency.observe(seconds)``).
Exposition reads them at scrape time through :class:`GatewayCollector`, registered in a
registry of the application's own (never prometheus-client's global one). Every sample has
the label ``node_id``.

To expose a new counter: add the field to :class:`Metrics` (an ``int``, or a
``Counter[str]`` / ``Counter[tuple[str, ...]]`` for labelled values) and one entry to
:data:`COUNTERS`. A field named in :data:`COUNTERS` but absent from :class:`Metrics` is
exposed with no samples, so dashboards find the name either way.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = [
    "COUNTERS",
    "CONTENT_TYPE",
    "HISTOGRAMS",
    "LATENCY_BUCKETS",
    "CounterSpec",
    "GatewayCollector",
    "Gauges",
    "LatencyHistogram",
    "Metrics",
    "MetricsExporter",
    "quantile",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of ``GET /metrics``."""

LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the latency histograms' buckets; ``+Inf`` comes on top."""


class LatencyHistogram:
    """Bucket counts and a sum of observed durations; ``observe`` is one bisect and two adds."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # per bucket, not cumulative; last is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        """Count one duration."""
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        """How many durations were observed."""
        return sum(self.counts)


def quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    """The ``q`` quantile of per-bucket ``counts`` (as Prometheus' histogram_quantile does).

    Interpolates linearly inside the bucket holding the rank; None when nothing was counted.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return bounds[-1]
            lower = bounds[index - 1] if index > 0 else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]


@dataclass(slots=True)
class Metrics:
    """What the gateway counts; plain numbers so the hot path only adds."""

    routed: int = 0
    delivered: int = 0
    queued: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    connections_total: int = 0
    slow_consumers: int = 0
    policy_refused: Counter[str] = field(default_factory=Counter)
    frames: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Agent frames by (type, outcome): delivered, forwarded, stored or rejected."""
    bytes_in: int = 0
    bytes_out: int = 0
    route_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    verify_time: LatencyHistogram = field(default_factory=LatencyHistogram)
    store_time: LatencyHistogram = field(default_factory=LatencyHistogram)
    backend_round_trip: LatencyHistogram = field(default_factory=LatencyHistogram)
    errors_suppressed: int = 0
    """Refusals answered with no ERROR frame (over a connection's ERRORS_PER_S budget)."""
    internal_errors: int = 0
    """Frames whose handling failed unexpectedly (answered INTERNAL_ERROR)."""


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """How one field of :class:`Metrics` is exposed: metric name, help, label names."""

    field: str
    name: str
    help: str
    labels: tuple[str, ...] = ()


COUNTERS: tuple[CounterSpec, ...] = (
    CounterSpec(
        "connections_total", "aiconexus_connections_accepted", "WebSocket connections accepted."
    ),
    CounterSpec("routed", "aiconexus_frames_routed", "Agent frames accepted for routing."),
    CounterSpec(
        "delivered", "aiconexus_frames_delivered", "Frames written to the recipient's WebSocket."
    ),
    CounterSpec("queued", "aiconexus_frames_queued", "Frames put into the offline store."),
    CounterSpec(
        "slow_consumers",
        "aiconexus_slow_consumers",
        "Connections closed because they read too slowly.",
    ),
    CounterSpec(
        "rejected", "aiconexus_frames_rejected", "Frames answered with ERROR, by code.", ("code",)
    ),
    CounterSpec(
        "frames", "aiconexus_frames", "Agent frames by type and outcome.", ("type", "outcome")
    ),
    CounterSpec("bytes_in", "aiconexus_received_bytes", "Text received in WebSocket frames."),
    CounterSpec("bytes_out", "aiconexus_sent_bytes", "Text written in WebSocket frames."),
    CounterSpec(
        "policy_refused", "aiconexus_policy_refused", "Frames refused by a policy rule.", ("rule",)
    ),
    CounterSpec(
        "errors_suppressed",
        "aiconexus_errors_suppressed",
        "Refusals answered without an ERROR frame (over a connection's ERRORS_PER_S).",
    ),
    CounterSpec(
        "internal_errors",
        "aiconexus_internal_errors",
        "Frames whose handling failed unexpectedly (answered INTERNAL_ERROR).",
    ),
)
"""Every counter exposed: one entry per field of :class:`Metrics`."""

HISTOGRAMS: tuple[CounterSpec, ...] = (
    CounterSpec(
        "route_latency",
        "aiconexus_route_latency_seconds",
        "From a frame read to it written to a local recipient's WebSocket.",
    ),
    CounterSpec("verify_time", "aiconexus_verify_seconds", "Signature verification of a frame."),
    CounterSpec("store_time", "aiconexus_store_seconds", "Putting a frame into the offline store."),
    CounterSpec(
        "backend_round_trip",
        "aiconexus_redis_round_trip_seconds",
        "Round trips to Redis (none with the memory backend).",
    ),
)
"""Every histogram exposed (fields holding a :class:`LatencyHistogram`)."""


@dataclass(slots=True)
class Gauges:
    """Values read when scraped (the application fills them in before rendering)."""

    connections: int = 0
    registered: int = 0
    stored: int = 0
    stored_bytes: int | None = None
    store_capacity: int = 0


class GatewayCollector(Collector):
    """Renders :class:`Metrics` and :class:`Gauges` as Prometheus metric families."""

    def __init__(self, metrics: Metrics, *, node_id: str, version: str) -> None:
        self.metrics = metrics
        self.gauges = Gauges()
        self.node_id = node_id
        self.version = version
        self.started = time.time()

    def collect(self) -> Iterator[Metric]:
        """Every metric family, each sample labelled with ``node_id``."""
        yield from self._gauges()
        for spec in COUNTERS:
            yield self._counter(spec, getattr(self.metrics, spec.field, None))
        for spec in HISTOGRAMS:
            yield self._histogram(spec, getattr(self.metrics, spec.field))

    def _gauge(self, name: str, text: str, value: float, **labels: str) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, text, labels=["node_id", *labels])
        family.add_metric([self.node_id, *labels.values()], value)
        return family

    def _gauges(self) -> Iterator[Metric]:
        g = self.gauges
        yield self._gauge("aiconexus_build_info", "Gateway version.", 1, version=self.version)
        yield self._gauge("aiconexus_start_time_seconds", "Process start (epoch).", self.started)
        yield self._gauge("aiconexus_connections", "Open WebSocket connections.", g.connections)
        yield self._gauge(
            "aiconexus_registered_agents", "Agents registered on this node.", g.registered
        )
        sessions = GaugeMetricFamily(
            "aiconexus_sessions", "Sessions by state.", labels=["node_id", "state"]
        )
        sessions.add_metric([self.node_id, "handshaking"], max(0, g.connections - g.registered))
        sessions.add_metric([self.node_id, "registered"], g.registered)
        yield sessions
        yield self._gauge("aiconexus_stored_frames", "Frames held in the offline store.", g.stored)
        yield self._gauge(
            "aiconexus_store_capacity_frames",
            "STORE_MAX_TOTAL: frames the store may hold (0: storing is off).",
            g.store_capacity,
        )
        if g.stored_bytes is not None:
            yield self._gauge(
                "aiconexus_stored_bytes", "Text held in the offline store.", g.stored_bytes
            )

    def _counter(self, spec: CounterSpec, value: Any) -> Metric:
        family = CounterMetricFamily(spec.name, spec.help, labels=["node_id", *spec.labels])
        if isinstance(value, Counter):
            for key, count in sorted(value.items(), key=lambda item: str(item[0])):
                keys = key if isinstance(key, tuple) else (key,)
                family.add_metric([self.node_id, *map(str, keys)], count)
        elif isinstance(value, int | float):
            family.add_metric([self.node_id], value)
        return family

    def _histogram(self, spec: CounterSpec, histogram: LatencyHistogram) -> Metric:
        family = HistogramMetricFamily(spec.name, spec.help, labels=["node_id"])
        cumulative, buckets = 0, []
        for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        family.add_metric([self.node_id], buckets, sum_value=histogram.sum)
        return family


class MetricsExporter:
    """The application's own registry holding one :class:`GatewayCollector`."""

    def __init__(self, metrics: Metrics, *, node_id: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = GatewayCollector(metrics, node_id=node_id, version=version)
        self.registry.register(self.collector)

    def render(self, gauges: Gauges) -> bytes:
        """The Prometheus text format of every metric, with ``gauges`` as read just now."""
        self.collector.gauges = gauges
        return generate_latest(self.registry)
