"""HTTP endpoints: /health, /agents (with ?capability=), /metrics (and ENABLE_METRICS=false)."""

from __future__ import annotations

import httpx
import pytest
from support.client import RawClient
from support.gateway import Gateway
from support.starter import StartGateway
from websockets.exceptions import InvalidStatus

from aiconexus.protocol import Identity, is_valid_did
from aiconexus_gateway.app import create_app
from aiconexus_gateway.backend.memory import MemoryBackend
from aiconexus_gateway.settings import Settings


async def test_health_reports_the_node(gateway: Gateway) -> None:
    """/health: status ok, version, uptime, connection count, DID, backend and node id."""
    client = await RawClient.connect(gateway.ws_url)
    response = gateway.health()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0"
    assert body["uptime_s"] >= 0
    assert body["connections"] >= 1
    assert is_valid_did(body["did"])
    assert body["backend"] in ("memory", "sqlite", "redis")
    assert body["node_id"]
    await client.close()


async def test_node_id_setting(start_gateway: StartGateway) -> None:
    """NODE_ID appears in /health."""
    gw = start_gateway(node_id="edge-7")
    assert gw.health().json()["node_id"] == "edge-7"


class _UnreachableBackend(MemoryBackend):
    """The memory backend reporting itself down (Redis outages are tested with Redis)."""

    async def healthy(self) -> bool:
        return False


async def test_health_is_503_when_the_backend_is_down() -> None:
    """/health answers 503 with status unavailable when backend.healthy() is False."""
    backend = _UnreachableBackend(store_max_per_agent=1, store_max_total=1, store_ttl=1)
    app = create_app(Settings(), Identity.generate(), backend)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_agents_lists_and_filters_by_capability(gateway: Gateway) -> None:
    """/agents lists did, capabilities, metadata, timestamps; ?capability= filters."""
    tag = Identity.generate().did[-8:]
    alice = await RawClient.connect(
        gateway.ws_url, capabilities=[f"translate-{tag}"], metadata={"name": "alice"}
    )
    bob = await RawClient.connect(gateway.ws_url, capabilities=[f"ocr-{tag}"])
    body = gateway.get("/agents").json()
    assert body["count"] == len(body["agents"])
    listed = {agent["did"]: agent for agent in gateway.agents()}
    assert set(listed[alice.did]) == {
        "did",
        "capabilities",
        "metadata",
        "connected_at",
        "last_seen",
    }
    assert listed[alice.did]["capabilities"] == [f"translate-{tag}"]
    assert listed[alice.did]["metadata"] == {"name": "alice"}
    assert listed[alice.did]["connected_at"].endswith("Z")
    filtered = gateway.get("/agents", capability=f"ocr-{tag}").json()
    assert (filtered["count"], filtered["next_cursor"]) == (1, None)
    # last_seen moves with the agent's traffic between the two requests; the rest must not.
    [only] = filtered["agents"]
    assert {**only, "last_seen": None} == {**listed[bob.did], "last_seen": None}
    nobody = gateway.get("/agents", capability=f"none-{tag}").json()
    assert nobody == {"agents": [], "count": 0, "next_cursor": None}


def _metric(text: str, name: str, code: str | None = None) -> int:
    for line in text.splitlines():
        if line.startswith(name + "{") and (code is None or f'code="{code}"' in line):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


async def test_metrics_count_frames(start_gateway: StartGateway) -> None:
    """/metrics: connections, agents, routed/delivered/queued, rejected by code, stored."""
    gw = start_gateway()
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    await alice.send_message("OFFER", bob.did, {"sdp": "x"})
    await bob.recv_text()
    await alice.expect("ACK")
    await alice.send_message("OFFER", Identity.generate().did, {"sdp": "x"})
    await alice.expect("ACK")
    await alice.send_text("nonsense")
    await alice.expect_error("MALFORMED_MESSAGE")
    response = gw.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _metric(text, "aiconexus_connections") == 2
    assert _metric(text, "aiconexus_registered_agents") == 2
    assert _metric(text, "aiconexus_frames_routed_total") == 2
    assert _metric(text, "aiconexus_frames_delivered_total") == 1
    assert _metric(text, "aiconexus_frames_queued_total") == 1
    assert _metric(text, "aiconexus_stored_frames") == 1
    assert _metric(text, "aiconexus_frames_rejected_total", "MALFORMED_MESSAGE") == 1
    assert "# TYPE aiconexus_frames_routed_total counter" in text


async def test_metrics_can_be_disabled(start_gateway: StartGateway) -> None:
    """ENABLE_METRICS=false: /metrics is 404."""
    gw = start_gateway(enable_metrics=False)
    assert gw.get("/metrics").status_code == 404
    assert gw.health().status_code == 200


async def test_other_websocket_paths_are_refused(gateway: Gateway) -> None:
    """Only /ws speaks IoAP: a WebSocket to another path is refused at the handshake."""
    with pytest.raises(InvalidStatus):
        await RawClient.open(gateway.ws_url.replace("/ws", "/other"))
