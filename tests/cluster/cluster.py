"""Several real gateway processes sharing one real redis-server, for the cluster tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from support.gateway import Gateway, GatewayProcess
from support.redis_server import RedisServer

__all__ = ["Cluster", "eventually", "get_json"]

# Short enough that a killed node leaves presence within a couple of seconds.
PRESENCE_TTL_S = 1.5


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], within: float = 10.0, what: str = ""
) -> None:
    """Poll ``condition`` (sync or async) every 20 ms until true; AssertionError after ``within``."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {within}s: {what or condition}")
        await asyncio.sleep(0.02)


async def get_json(node: Gateway, path: str, **params: str) -> tuple[int, Any]:
    """GET ``path`` on ``node``: (status, JSON body)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        response = await client.get(f"{node.http_url}{path}", params=params)
        return response.status_code, response.json()


class Cluster:
    """Gateway nodes of one gateway: one key (one DID), one Redis database, own NODE_IDs."""

    def __init__(self, redis: RedisServer, database: int, workdir: Path, **settings: str) -> None:
        self.redis = redis
        self.workdir = workdir
        self.env = {
            "STORAGE_TYPE": "redis",
            "REDIS_URL": redis.url_of(database),
            "GATEWAY_KEY_FILE": str(workdir / "gateway.key"),
            "PRESENCE_TTL": str(PRESENCE_TTL_S),
            "CLEANUP_INTERVAL": "1",
            **settings,
        }
        self.nodes: list[GatewayProcess] = []

    async def add_node(self, node_id: str | None = None, **settings: str) -> GatewayProcess:
        """Start one more node (``NODE_ID`` n1, n2... unless given) and wait for /health."""
        node_id = node_id or f"n{len(self.nodes) + 1}"
        env = {**self.env, "NODE_ID": node_id, **settings}
        node = GatewayProcess(env, self.workdir / node_id)
        self.nodes.append(node)
        await asyncio.to_thread(node.start)
        return node

    async def restart(self, node: GatewayProcess) -> None:
        """Stop ``node`` (SIGTERM) and start it again on the same port."""
        await asyncio.to_thread(node.stop)
        await asyncio.to_thread(node.start)

    async def kill(self, node: GatewayProcess) -> None:
        """SIGKILL ``node``, as a crash would."""
        assert node.process is not None
        node.process.kill()
        await asyncio.to_thread(node.process.wait, 5)

    async def agent_sets(self) -> list[set[str]]:
        """The DIDs that ``GET /agents`` lists on every running node."""
        sets = []
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                _, body = await get_json(node, "/agents")
                sets.append({agent["did"] for agent in body["agents"]})
        return sets

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()

    def logs(self) -> str:
        """The output of every node, for failure messages."""
        return "\n".join(f"--- {node.env['NODE_ID']}\n{node.log()}" for node in self.nodes)
