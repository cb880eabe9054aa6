"""deploy/nginx-cluster.conf in front of two real nodes: one address, failover included."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from support.client import RawClient
from support.inprocess import InProcessGateway
from support.ports import free_port
from support.streams import Inbox, Stream, check_stream, missing

from aiconexus import GatewayClient
from aiconexus.backoff import Backoff
from aiconexus.protocol import Identity

from .cluster import Cluster, eventually, get_json

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ACKED = frozenset({"delivered", "queued"})

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx-cluster.conf"
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


class Nginx:
    """nginx running the project's cluster configuration, upstreams on loopback ports."""

    def __init__(self, workdir: Path, upstream_ports: list[int]) -> None:
        self.port = free_port()
        self.workdir = workdir
        site = CONFIG.read_text()
        for index, port in enumerate(upstream_ports, start=1):
            site = site.replace(f"gateway-{index}:8000", f"127.0.0.1:{port}")
        site = re.sub(r"listen \[::\]:8080;\n", "", site)
        site = site.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "site.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""
        (workdir / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/error.log info;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {workdir}/body;\n"
            f"  proxy_temp_path {workdir}/proxy;\n  fastcgi_temp_path {workdir}/fastcgi;\n"
            f"  uwsgi_temp_path {workdir}/uwsgi;\n  scgi_temp_path {workdir}/scgi;\n"
            f"  include {workdir}/site.conf;\n}}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        """The one WebSocket URL agents use."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        """Check the configuration, then run nginx in the foreground."""
        assert NGINX is not None
        binary = NGINX
        conf = str(self.workdir / "nginx.conf")
        check = subprocess.run(
            [binary, "-t", "-c", conf], capture_output=True, text=True, timeout=30, check=False
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            [binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> None:
        """Stop nginx (SIGTERM, then SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
async def balanced(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[Cluster, Nginx]]:
    """Two nodes and nginx in front of them."""
    if NGINX is None:
        pytest.skip("nginx is not installed")
    n1, n2 = await cluster.add_node(), await cluster.add_node()
    nginx = Nginx(tmp_path / "nginx", [n1.port, n2.port])
    nginx.start()
    try:
        await eventually(
            lambda: _lb_health(nginx), within=10, what="nginx answers /health of a node"
        )
        yield cluster, nginx
    finally:
        nginx.stop()


async def _lb_health(nginx: Nginx) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(f"http://127.0.0.1:{nginx.port}/health")
            return response.status_code == 200
    except httpx.HTTPError:
        return False


async def test_agents_behind_one_address_survive_a_node_kill(
    balanced: tuple[Cluster, Nginx],
) -> None:
    """Agents spread over both nodes via nginx; after SIGKILL of one, all still talk."""
    cluster, nginx = balanced
    fast = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.0)
    clients = [GatewayClient(nginx.ws_url, Identity.generate(), backoff=fast) for _ in range(6)]
    try:
        for client in clients:
            await client.connect()
        spread = {
            agent["did"]
            for node in cluster.nodes
            for agent in (await get_json(node, "/agents"))[1]["agents"]
        }
        assert spread == {client.did for client in clients}
        per_node = [(await get_json(node, "/health"))[1]["connections"] for node in cluster.nodes]
        assert all(count > 0 for count in per_node), f"nginx used one node only: {per_node}"

        async def ring(tag: str) -> None:
            for index, client in enumerate(clients):
                peer = clients[(index + 1) % len(clients)]
                await client.send(peer.did, "INTENT", {"task": tag}, timeout=20)
            for client in clients:
                message = await asyncio.wait_for(client.recv(), timeout=20)
                assert message.payload["task"] == tag

        await ring("before")
        await cluster.kill(cluster.nodes[0])
        await ring("after")
        _, body = await get_json(cluster.nodes[1], "/agents")
        assert {agent["did"] for agent in body["agents"]} == {client.did for client in clients}
    finally:
        for client in clients:
            await client.close()


async def test_sigterm_drains_a_node_and_agents_move_without_loss(
    balanced: tuple[Cluster, Nginx],
) -> None:
    """SIGTERM of a node mid-stream: it drains, closes 1001, exits 0; agents move on, lose nothing.

    Four agents behind nginx stream numbered frames to each other in a ring while one node
    stops; every frame ACKed ``delivered`` or ``queued`` reaches user code exactly once and
    in order.
    """
    cluster, nginx = balanced
    fast = Backoff(initial_delay=0.05, factor=2.0, max_delay=0.5, jitter=0.5)
    clients = [GatewayClient(nginx.ws_url, Identity.generate(), backoff=fast) for _ in range(4)]
    for client in clients:
        await client.connect()
    inboxes = [Inbox(client) for client in clients]
    ring = [
        (Stream(client, clients[(i + 1) % 4].did), inboxes[(i + 1) % 4], client.did)
        for i, client in enumerate(clients)
    ]
    for stream, _, _ in ring:
        stream.start()
    acked = ACKED
    try:
        await eventually(lambda: min(s.acked for s, _, _ in ring) >= 20, what="streams flowing")
        draining = cluster.nodes[0]
        assert await asyncio.to_thread(draining.stop) == 0
        line = [ln for ln in draining.log().splitlines() if "drained sessions=" in ln]
        assert len(line) == 1, draining.log()
        before = [s.acked for s, _, _ in ring]
        await eventually(
            lambda: all(s.acked >= n + 20 for (s, _, _), n in zip(ring, before, strict=True)),
            within=20,
            what="streams flowing through the other node",
        )
        for stream, _, _ in ring:
            await stream.stop()
        await eventually(
            lambda: all(not missing(s, i.by_sender[d], acked) for s, i, d in ring),
            within=20,
            what="every acknowledged frame received",
        )
        for stream, inbox, sender in ring:
            check_stream(stream, inbox.by_sender[sender], acked)
    finally:
        for client in clients:
            await client.close()


async def test_the_proxy_names_the_client_and_cannot_be_fooled(tmp_path: Path) -> None:
    """TRUSTED_PROXIES=127.0.0.1 behind the project's nginx: a forged X-Forwarded-For is replaced.

    Every agent here really comes from 127.0.0.1: with MAX_CONNECTIONS_PER_IP=2 the third is
    refused 1013 whatever address its own header claims.
    """
    if NGINX is None:
        pytest.skip("nginx is not installed")
    env = {"STORAGE_TYPE": "memory", "TRUSTED_PROXIES": "127.0.0.1", "MAX_CONNECTIONS_PER_IP": "2"}
    with InProcessGateway(env, tmp_path / "gw") as gateway:
        nginx = Nginx(tmp_path / "nginx", [gateway.port, gateway.port])
        nginx.start()
        try:
            await eventually(lambda: _lb_health(nginx), within=10, what="nginx answers /health")
            agents = []
            for forged in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
                client = await RawClient.open(
                    nginx.ws_url, additional_headers={"X-Forwarded-For": forged}
                )
                agents.append(client)
            await agents[0].read_challenge()
            await agents[1].read_challenge()
            assert await agents[2].closed(within=10) == 1013
            assert "from this address" in agents[2].close_reason
        finally:
            nginx.stop()
