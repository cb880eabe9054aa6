"""The ASGI application: ``/ws`` goes straight to the connection handler, HTTP to FastAPI.

The WebSocket endpoint is served by plain ASGI (no framework wrapper per frame); FastAPI
serves ``/health``, ``/agents`` and ``/metrics`` and runs the hub's start-up and shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from aiconexus.protocol import Identity

from .backend import create_backend
from .backend.base import Backend, BackendUnavailableError
from .connection import ASGIReceive, serve_connection
from .hub import Hub
from .metrics import render_prometheus
from .router import Router
from .session import ASGISend
from .settings import Settings

__all__ = ["GatewayApp", "create_app", "gateway_version"]

logger = logging.getLogger("aiconexus.gateway")

HEALTH_TIMEOUT = 2.0


def gateway_version() -> str:
    """The installed version of the gateway package."""
    try:
        return version("aiconexus-gateway")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


class GatewayApp:
    """The ASGI callable: ``/ws`` to the hub, everything else to the FastAPI ``http`` app."""

    def __init__(self, hub: Hub, http: FastAPI) -> None:
        self.hub = hub
        self.http = http
        self.router = Router(hub)

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Dispatch one ASGI connection."""
        if scope["type"] == "websocket":
            if scope["path"] == "/ws":
                await serve_connection(self.hub, self.router, scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.http(scope, receive, send)


def create_app(
    settings: Settings, identity: Identity, backend: Backend | None = None
) -> GatewayApp:
    """Build the gateway application for ``settings`` with the gateway key ``identity``."""
    hub = Hub(settings, identity, backend or create_backend(settings))
    release = gateway_version()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    http = FastAPI(title="AIConexus gateway", version=release, lifespan=lifespan)

    @http.get("/health")
    async def health() -> Response:
        """Liveness and identity of this gateway node; 503 when the backend is down."""
        healthy = await _backend_healthy(hub.backend)
        body = {
            "status": "ok" if healthy else "unavailable",
            "version": release,
            "uptime_s": round(time.time() - hub.started_at, 3),
            "connections": hub.connections,
            "tcp_pending": hub.ip_limits.tcp_pending,
            "did": hub.did,
            "backend": hub.backend.name,
            "node_id": hub.node_id,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @http.get("/agents")
    async def agents(capability: str | None = Query(default=None)) -> Response:
        """Registered agents (cluster-wide), optionally only those with ``capability``."""
        try:
            records = await hub.backend.list_agents(capability)
        except BackendUnavailableError as exc:
            return JSONResponse({"error": f"backend unavailable: {exc}"}, status_code=503)
        listed = [record.public() for record in records]
        return JSONResponse({"agents": listed, "count": len(listed)})

    @http.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text metrics (404 when ENABLE_METRICS is false)."""
        if not settings.enable_metrics:
            return PlainTextResponse("metrics are disabled\n", status_code=404)
        try:
            stored = await hub.backend.stored_count()
        except BackendUnavailableError:
            stored = -1
        text = render_prometheus(
            hub.metrics,
            connections=hub.connections,
            registered=len(hub.sessions),
            stored=stored,
            node_id=hub.node_id,
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return GatewayApp(hub, http)


async def _backend_healthy(backend: Backend) -> bool:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            return await backend.healthy()
    except Exception as exc:
        logger.warning("backend health check failed: %r", exc)
        return False
