"""Counters of one gateway process and their Prometheus text exposition."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Metrics", "render_prometheus"]


@dataclass(slots=True)
class Metrics:
    """What the gateway counts; plain integers so the hot path only adds."""

    routed: int = 0
    delivered: int = 0
    queued: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    connections_total: int = 0
    slow_consumers: int = 0
    errors_suppressed: int = 0
    """Refusals answered with no ERROR frame (over a connection's ERRORS_PER_S budget)."""
    internal_errors: int = 0
    """Frames whose handling failed unexpectedly (answered INTERNAL_ERROR)."""


def render_prometheus(
    metrics: Metrics, *, connections: int, registered: int, stored: int, node_id: str
) -> str:
    """The Prometheus text format (version 0.0.4) of ``metrics`` and the current gauges."""
    label = f'node_id="{_escape(node_id)}"'
    lines = [
        "# HELP aiconexus_connections Open WebSocket connections.",
        "# TYPE aiconexus_connections gauge",
        f"aiconexus_connections{{{label}}} {connections}",
        "# HELP aiconexus_registered_agents Agents registered on this node.",
        "# TYPE aiconexus_registered_agents gauge",
        f"aiconexus_registered_agents{{{label}}} {registered}",
        "# HELP aiconexus_stored_frames Frames held in the offline store.",
        "# TYPE aiconexus_stored_frames gauge",
        f"aiconexus_stored_frames{{{label}}} {stored}",
        "# HELP aiconexus_connections_accepted_total WebSocket connections accepted.",
        "# TYPE aiconexus_connections_accepted_total counter",
        f"aiconexus_connections_accepted_total{{{label}}} {metrics.connections_total}",
        "# HELP aiconexus_frames_routed_total Agent frames accepted for routing.",
        "# TYPE aiconexus_frames_routed_total counter",
        f"aiconexus_frames_routed_total{{{label}}} {metrics.routed}",
        "# HELP aiconexus_frames_delivered_total Frames written to the recipient's WebSocket.",
        "# TYPE aiconexus_frames_delivered_total counter",
        f"aiconexus_frames_delivered_total{{{label}}} {metrics.delivered}",
        "# HELP aiconexus_frames_queued_total Frames put into the offline store.",
        "# TYPE aiconexus_frames_queued_total counter",
        f"aiconexus_frames_queued_total{{{label}}} {metrics.queued}",
        "# HELP aiconexus_slow_consumers_total Connections closed because they read too slowly.",
        "# TYPE aiconexus_slow_consumers_total counter",
        f"aiconexus_slow_consumers_total{{{label}}} {metrics.slow_consumers}",
        "# HELP aiconexus_frames_rejected_total Frames answered with an ERROR, by code.",
        "# TYPE aiconexus_frames_rejected_total counter",
    ]
    for code, count in sorted(metrics.rejected.items()):
        lines.append(f'aiconexus_frames_rejected_total{{{label},code="{code}"}} {count}')
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
