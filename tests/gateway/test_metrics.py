"""/metrics through prometheus-client: histograms, frames by type and outcome, the dashboard's names."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from support.client import RawClient
from support.gateway import Gateway
from support.inprocess import InProcessGateway
from support.redis_server import redis_or_skip

from aiconexus.protocol import Identity
from aiconexus_gateway.observation.metrics import (
    COUNTERS,
    HISTOGRAMS,
    Gauges,
    LatencyHistogram,
    Metrics,
    MetricsExporter,
    quantile,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus-alerts.yml"
SYNTHESIZED = {"up"}  # written by Prometheus itself for every scrape target
NAME = re.compile(r"\b(aiconexus_[a-z0-9_]+|up)\b")


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample line."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def _value(samples: dict[str, float], name: str, **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    found = [
        v for k, v in samples.items() if k.split("{")[0] == name and all(w in k for w in wanted)
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _names(text: str) -> set[str]:
    """Every metric name in an exposition: sample names and the families' TYPE lines."""
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    names |= {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return names - {""}


async def _traffic(gw: Gateway) -> tuple[RawClient, RawClient]:
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    for _ in range(3):
        await alice.send_message("OFFER", bob.did, {"sdp": "x"})
        await bob.recv_text()
    await alice.expect_acks(3)
    await alice.send_message("OFFER", Identity.generate().did, {"sdp": "stored"})
    await alice.expect("ACK")
    await alice.send_text("[]")
    await alice.expect_error("MALFORMED_MESSAGE")
    return alice, bob


async def test_scrape_has_histograms_and_frames_by_type_and_outcome(tmp_path: Path) -> None:
    """Route/verify/store latency histograms, frames{type,outcome}, bytes, sessions, node_id."""
    with InProcessGateway({"STORAGE_TYPE": "memory", "NODE_ID": "edge-1"}, tmp_path) as gw:
        await _traffic(gw)
        response = gw.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    assert all('node_id="edge-1"' in key for key in samples)
    assert _value(samples, "aiconexus_frames_total", type="OFFER", outcome="delivered") == 3
    assert _value(samples, "aiconexus_frames_total", type="OFFER", outcome="stored") == 1
    assert _value(samples, "aiconexus_route_latency_seconds_count") == 3
    assert 0 < _value(samples, "aiconexus_route_latency_seconds_sum") < 3
    assert _value(samples, "aiconexus_route_latency_seconds_bucket", le="+Inf") == 3
    assert _value(samples, "aiconexus_verify_seconds_count") == 4
    assert _value(samples, "aiconexus_store_seconds_count") == 1
    assert _value(samples, "aiconexus_redis_round_trip_seconds_count") == 0
    assert _value(samples, "aiconexus_sessions", state="registered") == 2
    assert _value(samples, "aiconexus_sessions", state="handshaking") == 0
    assert _value(samples, "aiconexus_stored_frames") == 1
    assert _value(samples, "aiconexus_stored_bytes") > 100
    assert _value(samples, "aiconexus_store_capacity_frames") == 100000
    assert _value(samples, "aiconexus_received_bytes_total") > 4 * 300
    assert _value(samples, "aiconexus_sent_bytes_total") > 3 * 300
    assert _value(samples, "aiconexus_frames_rejected_total", code="MALFORMED_MESSAGE") == 1
    assert _value(samples, "aiconexus_build_info", version="0.1.0") == 1


@pytest.mark.redis
async def test_redis_round_trips_are_counted(tmp_path: Path) -> None:
    """With STORAGE_TYPE=redis every frame costs round trips, counted in a histogram."""
    with redis_or_skip() as server:
        env = {"STORAGE_TYPE": "redis", "REDIS_URL": server.url_of(0)}
        with InProcessGateway(env, tmp_path) as gw:
            await _traffic(gw)
            samples = _samples(gw.get("/metrics").text)
    assert _value(samples, "aiconexus_redis_round_trip_seconds_count") >= 4
    assert "aiconexus_stored_bytes" not in {key.split("{")[0] for key in samples}


async def test_dashboard_and_alerts_use_only_exposed_names(tmp_path: Path) -> None:
    """Every metric name in deploy/grafana-dashboard.json and prometheus-alerts.yml exists."""
    with InProcessGateway({"STORAGE_TYPE": "memory"}, tmp_path) as gw:
        await _traffic(gw)
        exposed = _names(gw.get("/metrics").text)
    dashboard = json.loads(DASHBOARD.read_text())
    panel_exprs = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    rules = yaml.safe_load(ALERTS.read_text())
    rule_exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(panel_exprs) >= 8 and len(rule_exprs) >= 5
    used = {name for expr in panel_exprs + rule_exprs for name in NAME.findall(str(expr))}
    assert used - exposed - SYNTHESIZED == set()
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"AIConexusGatewayDown", "AIConexusStoreNearlyFull", "AIConexusLatencyP99High"} <= alerts


def test_every_metrics_field_is_exposed() -> None:
    """Each counter field of Metrics has a COUNTERS entry; each histogram a HISTOGRAMS entry."""
    kinds = {f.name: f.type for f in fields(Metrics)}
    counters = {spec.field for spec in COUNTERS}
    histograms = {spec.field for spec in HISTOGRAMS}
    for name, kind in kinds.items():
        assert name in (histograms if "LatencyHistogram" in str(kind) else counters), name


def test_a_counter_added_by_another_module_is_exposed_when_present() -> None:
    """``policy_refused`` (a Counter keyed by rule) is listed with no samples until it exists."""
    exporter = MetricsExporter(Metrics(), node_id="n", version="v")
    text = exporter.render(Gauges()).decode()
    assert "# TYPE aiconexus_policy_refused_total counter" in text
    assert "aiconexus_policy_refused_total{" not in text

    class WithPolicy:
        def __init__(self) -> None:
            self.policy_refused: Counter[str] = Counter({"deny-ocr": 2})

        def __getattr__(self, name: str) -> object:
            return getattr(Metrics(), name)

    exporter.collector.metrics = WithPolicy()  # type: ignore[assignment]
    text = exporter.render(Gauges()).decode()
    assert 'aiconexus_policy_refused_total{node_id="n",rule="deny-ocr"} 2.0' in text


def test_quantiles_of_buckets() -> None:
    """quantile() interpolates inside the bucket holding the rank (like histogram_quantile)."""
    histogram = LatencyHistogram((0.001, 0.01, 0.1))
    for value in (0.0005,) * 50 + (0.005,) * 49 + (5.0,):
        histogram.observe(value)
    assert histogram.count == 100
    assert quantile(0.5, histogram.bounds, histogram.counts) == pytest.approx(0.001)
    assert quantile(0.25, histogram.bounds, histogram.counts) == pytest.approx(0.0005)
    assert quantile(0.995, histogram.bounds, histogram.counts) == 0.1  # the +Inf bucket
    assert quantile(0.5, histogram.bounds, [0, 0, 0, 0]) is None
