"""The ASGI application: ``/ws`` goes straight to the connection handler, HTTP to FastAPI.

The WebSocket endpoint is served by plain ASGI (no framework wrapper per frame); FastAPI
serves ``/health``, ``/agents`` (and its change events, :mod:`.directory_events`),
``/metrics`` and the status page (:mod:`.status`) and runs
the hub's start-up and shutdown (which also makes SIGHUP reload the access policy).

This is where the parts are assembled: the shared pieces (:func:`~.routing.parts.build_parts`),
the hub, its router and the connection handler are built once here and handed to each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aiconexus.protocol import CloseCode, Identity
from aiconexus_gateway._version import gateway_version
from aiconexus_gateway.backend import create_backend
from aiconexus_gateway.backend.base import Backend, BackendUnavailableError
from aiconexus_gateway.guards.access import AccessPolicy, install_reload_on_hangup
from aiconexus_gateway.guards.http_budget import serve_http
from aiconexus_gateway.guards.operator_auth import require_token
from aiconexus_gateway.observation.directory_events import directory_events_router
from aiconexus_gateway.observation.listing import (
    MAX_CURSOR_LENGTH,
    PAGE_DEFAULT,
    PAGE_MAX,
    agents_page,
)
from aiconexus_gateway.observation.metrics import CONTENT_TYPE, Gauges, Metrics, MetricsExporter
from aiconexus_gateway.observation.sampler import Sampler
from aiconexus_gateway.observation.status import AuthDependency, status_router
from aiconexus_gateway.routing.connection import ConnectionHandler
from aiconexus_gateway.routing.hub import Hub
from aiconexus_gateway.routing.parts import Parts, build_parts
from aiconexus_gateway.routing.router import Router
from aiconexus_gateway.settings import Settings
from aiconexus_gateway.tasks import stop_task
from aiconexus_gateway.transport.asgi import ASGIReceive, ASGISend
from aiconexus_gateway.transport.head import serve_head

if TYPE_CHECKING:
    from aiconexus_gateway.bridges.embed import EmbeddedBridge

__all__ = ["GatewayApp", "create_app", "gateway_version"]

logger = logging.getLogger("aiconexus.gateway")

HEALTH_TIMEOUT = 2.0


class GatewayApp:
    """The ASGI callable: ``/ws`` to the hub, everything else to the FastAPI ``http`` app."""

    def __init__(self, parts: Parts, hub: Hub, http: FastAPI) -> None:
        self.parts = parts
        """The node's shared pieces (settings, metrics, guards...)."""
        self.hub = hub
        self.http = http
        self.policy = parts.guards.policy
        self.ip_limits = parts.guards.ip_limits
        """Per-address limits (the HTTP protocol's too)."""
        self.router = Router(parts, hub, hub.replies)
        self.connections = ConnectionHandler(parts, hub, self.router, hub.replies)

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Dispatch one ASGI connection."""
        if scope["type"] == "websocket":
            if scope["path"] == "/ws":
                await self.connections(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": int(CloseCode.POLICY_VIOLATION)})
            return
        if scope["type"] != "http":
            await self.http(scope, receive, send)  # lifespan
            return
        await serve_http(self.ip_limits, self._serve_http, scope, receive, send)

    async def _serve_http(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """An HTTP request within its address's budget: ``HEAD`` is answered as ``GET``."""
        if scope["method"] == "HEAD":
            await serve_head(self.http, scope, receive, send)
        else:
            await self.http(scope, receive, send)


def create_app(
    settings: Settings, identity: Identity, backend: Backend | None = None
) -> GatewayApp:
    """Build the gateway application for ``settings`` with the gateway key ``identity``.

    Raises :class:`~.policy.PolicyError` when ``POLICY_FILE`` cannot be used.
    """
    counters = Metrics()
    policy = None
    if settings.policy_file is not None:
        policy = AccessPolicy(settings.policy_file, counters.policy_refused)
    backend = backend or create_backend(settings)
    parts = build_parts(settings, identity, backend, policy=policy, metrics=counters)
    hub = Hub(parts)
    release = gateway_version()
    exporter = MetricsExporter(counters, node_id=parts.node_id, version=release)
    backend.observe_round_trips(counters.backend_round_trip.observe)
    capacity = settings.store_max_total if settings.storing_enabled else 0
    sampler = Sampler(
        hub, counters, backend, node_id=parts.node_id, did=parts.did, store_capacity=capacity
    )
    bridges = _bridges(settings, parts.did)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        remove_hangup = install_reload_on_hangup(policy)
        sampling = asyncio.get_running_loop().create_task(sampler.run())
        for bridge in bridges:
            await bridge.start()
        try:
            yield
        finally:
            for bridge in reversed(bridges):
                await bridge.stop()
            remove_hangup()
            await stop_task(sampling)
            await hub.stop()

    docs = settings.enable_api_docs
    http = FastAPI(
        title="AIConexus gateway",
        version=release,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    http.include_router(status_router(sampler, auth=status_auth(settings)))
    http.include_router(
        directory_events_router(hub.directory, auth=require_token(settings.agents_token))
    )
    for bridge in bridges:
        http.mount(bridge.path, bridge.app)
        # the bridge's own path too, without the redirect from /path to /path/
        http.router.routes.append(Route(bridge.path, endpoint=bridge.app))

    @http.get("/health")
    async def health() -> Response:
        """Liveness and identity of this gateway node; 503 when the backend is down."""
        healthy = await _backend_healthy(backend)
        body = {
            "status": "ok" if healthy else "unavailable",
            "version": release,
            "uptime_s": round(time.time() - hub.started_at, 3),
            "connections": hub.connections,
            "tcp_pending": parts.guards.ip_limits.tcp_pending,
            "did": parts.did,
            "backend": backend.name,
            "node_id": parts.node_id,
            "signatures": parts.crypto.describe(),
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    @http.get("/agents", dependencies=[Depends(require_token(settings.agents_token))])
    async def agents(
        capability: str | None = Query(default=None),
        cursor: str | None = Query(default=None, min_length=1, max_length=MAX_CURSOR_LENGTH),
        limit: int = Query(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX),
    ) -> Response:
        """One page of the registered agents (cluster-wide) in DID order, streamed."""
        return await agents_page(backend, capability, cursor, limit)

    @http.get("/metrics", dependencies=[Depends(require_token(settings.metrics_token))])
    async def metrics() -> Response:
        """Prometheus text metrics (404 when ENABLE_METRICS is false)."""
        if not settings.enable_metrics:
            return PlainTextResponse("metrics are disabled\n", status_code=404)
        gauges = Gauges(connections=hub.connections, registered=hub.registered)
        gauges.store_capacity = settings.store_max_total if settings.storing_enabled else 0
        try:
            gauges.stored = await backend.stored_count()
            gauges.stored_bytes = await backend.stored_bytes()
        except BackendUnavailableError:
            gauges.stored = -1
        # rendered on the loop: the counters must not change while they are read
        return Response(exporter.render(gauges), media_type=CONTENT_TYPE)

    return GatewayApp(parts, hub, http)


def _bridges(settings: Settings, gateway_did: str) -> list[EmbeddedBridge]:
    """The bridges A2A_ENABLED / MCP_ENABLED ask for (imported only then)."""
    if not (settings.a2a_enabled or settings.mcp_enabled):
        return []
    from aiconexus_gateway.bridges.embed import embedded_bridges

    return embedded_bridges(settings, gateway_did)


def status_auth(settings: Settings) -> AuthDependency:
    """Who may read the status page's data: the holders of the ``/agents`` token, if any."""
    return require_token(settings.agents_token)


async def _backend_healthy(backend: Backend) -> bool:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            return await backend.healthy()
    except Exception as exc:
        logger.warning("backend health check failed: %r", exc)
        return False
