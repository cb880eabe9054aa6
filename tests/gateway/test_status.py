"""The status page's routes: redirect, a self-contained page, summary, event stream, token, nodes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from support.client import RawClient
from support.gateway import Gateway
from support.inprocess import InProcessGateway
from support.redis_server import redis_or_skip
from support.starter import StartGateway

from aiconexus.protocol import Identity
from aiconexus_gateway.backend.memory import MemoryBackend
from aiconexus_gateway.guards.operator_auth import require_token
from aiconexus_gateway.observation.sampler import Sampler
from aiconexus_gateway.observation.status import status_page, status_router
from aiconexus_gateway.routing.hub import Hub
from aiconexus_gateway.routing.parts import build_parts
from aiconexus_gateway.settings import Settings


def _events(gw: Gateway, count: int) -> list[tuple[str, dict[str, Any]]]:
    """The first ``count`` events of ``/status/events``."""
    found: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("GET", f"{gw.http_url}/status/events", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                found.append((name, json.loads(line[6:])))
                if len(found) == count:
                    return found
    raise AssertionError(f"the stream ended after {found}")


def test_the_page_is_self_contained() -> None:
    """No URL outside the gateway: no CDN, no external fonts, scripts and styles inline."""
    page = status_page()
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.IGNORECASE) == []
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert "/status/events" in page and "/agents?limit=" in page and "sessionStorage" in page


async def test_routes_of_a_running_gateway(tmp_path: Path) -> None:
    """/ redirects to /status; summary and events carry totals and chart points, no agent list."""
    with InProcessGateway({"STORAGE_TYPE": "memory", "NODE_ID": "edge-9"}, tmp_path) as gw:
        root = gw.get("/")  # httpx does not follow redirects unless told to
        assert (root.status_code, root.headers["location"]) == (307, "/status")
        page = gw.get("/status")
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        client = await RawClient.connect(gw.ws_url)
        await client.send_text("[]")
        await client.expect_error("MALFORMED_MESSAGE")
        (first, history), (second, summary) = _events(gw, 2)
        body = gw.get("/status/summary").json()
    assert (first, second) == ("history", "summary")
    assert isinstance(history["points"], list)
    assert summary["node_id"] == "edge-9" and summary["nodes"] == ["edge-9"]
    assert summary["registered"] == 1 and summary["refusals"] == {"MALFORMED_MESSAGE": 1}
    assert set(summary["point"]) == {"t", "fps", "dps", "rps", "p50_ms", "p99_ms"}
    assert client.did not in json.dumps(summary)  # agents are never listed in the stream
    assert body["history"] and body["stored"] == 0 and body["store_capacity"] == 100000


async def test_data_routes_need_the_bearer_token_when_one_is_set() -> None:
    """With a token: 401 without or with a wrong one, 200 with ``Authorization: Bearer``."""
    backend = MemoryBackend(store_max_per_agent=1, store_max_total=1, store_ttl=1)
    parts = build_parts(Settings(node_id="n1"), Identity.generate(), backend, crypto_threads=0)
    sampler = Sampler(Hub(parts), parts.metrics, backend, node_id="n1", did=parts.did)
    app = FastAPI()
    app.include_router(status_router(sampler, auth=require_token("s3cret")))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        assert (await http.get("/status")).status_code == 200  # the page itself holds no data
        missing = await http.get("/status/summary")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        wrong = await http.get("/status/summary", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await http.get("/status/events")).status_code == 401
        good = await http.get("/status/summary", headers={"Authorization": "Bearer s3cret"})
    assert good.status_code == 200 and good.json()["node_id"] == "n1"


@pytest.mark.redis
async def test_nodes_of_a_redis_cluster_are_listed(tmp_path: Path) -> None:
    """Two nodes on one Redis: each one's summary lists both live nodes."""
    with redis_or_skip() as server:
        env = {"STORAGE_TYPE": "redis", "REDIS_URL": server.url_of(0)}
        with (
            InProcessGateway({**env, "NODE_ID": "n-a"}, tmp_path / "a"),
            InProcessGateway({**env, "NODE_ID": "n-b"}, tmp_path / "b") as second,
        ):
            (_, history), _ = _events(second, 2)
    assert history["nodes"] == ["n-a", "n-b"]


def _script_hashes(page: str) -> set[str]:
    """The CSP source of each inline script of ``page``: 'sha256-<base64 of its text>'."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    assert scripts
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    }


async def test_the_page_runs_only_its_own_script(gateway: Gateway) -> None:
    """CSP: scripts by hash, never 'unsafe-inline'; the hash is that of the page's script."""
    page = gateway.get("/status")
    policy = [part.split() for part in page.headers["content-security-policy"].split(";")]
    directives = {words[0]: set(words[1:]) for words in policy if words}
    sources = directives["script-src"]
    assert "'unsafe-inline'" not in sources
    assert sources == _script_hashes(page.text)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_api_docs_are_off_by_default(gateway: Gateway, path: str) -> None:
    """/docs, /redoc and /openapi.json are not served unless ENABLE_API_DOCS is set."""
    assert gateway.get(path).status_code == 404


async def test_api_docs_can_be_turned_on(start_gateway: StartGateway) -> None:
    """ENABLE_API_DOCS=true serves them."""
    gateway = start_gateway(enable_api_docs=True)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert gateway.get(path).status_code == 200, path
    assert "/agents" in gateway.get("/openapi.json").json()["paths"]
