"""The ASGI application: ``/ws`` goes straight to the connection handler, HTTP to FastAPI.

The WebSocket endpoint is served by plain ASGI (no framework wrapper per frame); FastAPI
serves ``/health``, ``/agents`` (and its change events, :mod:`.directory_events`),
``/metrics`` and the status page (:mod:`.status`) and runs
the hub's start-up and shutdown (which also makes SIGHUP reload the access policy).
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
from aiconexus_gateway.observation.metrics import CONTENT_TYPE, Gauges, MetricsExporter
from aiconexus_gateway.observation.sampler import Sampler
from aiconexus_gateway.observation.status import AuthDependency, status_router
from aiconexus_gateway.routing.connection import serve_connection
from aiconexus_gateway.routing.hub import Hub
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

    def __init__(self, hub: Hub, http: FastAPI, policy: AccessPolicy | None = None) -> None:
        self.hub = hub
        self.http = http
        self.policy = policy
        self.router = Router(hub, policy)

    async def __call__(
        self, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Dispatch one ASGI connection."""
        if scope["type"] == "websocket":
            if scope["path"] == "/ws":
                await serve_connection(self.hub, self.router, scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": int(CloseCode.POLICY_VIOLATION)})
            return
        if scope["type"] != "http":
            await self.http(scope, receive, send)  # lifespan
            return
        await serve_http(self.hub.ip_limits, self._serve_http, scope, receive, send)

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
    hub = Hub(settings, identity, backend or create_backend(settings))
    policy = None
    if settings.policy_file is not None:
        policy = AccessPolicy(settings.policy_file, hub.metrics.policy_refused)
    release = gateway_version()
    exporter = MetricsExporter(hub.metrics, node_id=hub.node_id, version=release)
    hub.backend.observe_round_trips(hub.metrics.backend_round_trip.observe)
    sampler = Sampler(hub)
    bridges = _bridges(settings, hub.did)

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

    @http.get("/agents", dependencies=[Depends(require_token(settings.agents_token))])
    async def agents(
        capability: str | None = Query(default=None),
        cursor: str | None = Query(default=None, min_length=1, max_length=MAX_CURSOR_LENGTH),
        limit: int = Query(default=PAGE_DEFAULT, ge=1, le=PAGE_MAX),
    ) -> Response:
        """One page of the registered agents (cluster-wide) in DID order, streamed."""
        return await agents_page(hub.backend, capability, cursor, limit)

    @http.get("/metrics", dependencies=[Depends(require_token(settings.metrics_token))])
    async def metrics() -> Response:
        """Prometheus text metrics (404 when ENABLE_METRICS is false)."""
        if not settings.enable_metrics:
            return PlainTextResponse("metrics are disabled\n", status_code=404)
        gauges = Gauges(connections=hub.connections, registered=len(hub.sessions))
        gauges.store_capacity = settings.store_max_total if settings.storing_enabled else 0
        try:
            gauges.stored = await hub.backend.stored_count()
            gauges.stored_bytes = await hub.backend.stored_bytes()
        except BackendUnavailableError:
            gauges.stored = -1
        # rendered on the loop: the counters must not change while they are read
        return Response(exporter.render(gauges), media_type=CONTENT_TYPE)

    return GatewayApp(hub, http, policy)


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
