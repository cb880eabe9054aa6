"""Running the gateway under uvicorn with the settings that matter for WebSockets.

uvicorn's ``websockets-sansio`` implementation is the fastest one that honours
``ws_ping_interval``/``ws_ping_timeout`` (dead connections are found by WebSocket pings); the
gateway runs it with one addition, batched sends (see :mod:`.ws_protocol`).
permessage-deflate is never negotiated (it costs most of the throughput).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import uvicorn

from .app import GatewayApp, create_app, gateway_version
from .keys import load_or_create_key
from .logs import configure_logging
from .settings import Settings
from .ws_protocol import BatchingWebSocketProtocol

__all__ = ["GatewayServer", "create_app_from_env", "run", "uvicorn_config"]

logger = logging.getLogger("aiconexus.gateway")

WS_IMPLEMENTATION = BatchingWebSocketProtocol


def uvicorn_config(settings: Settings, app: Any, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of a gateway for ``settings``."""
    options: dict[str, Any] = {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "ws": WS_IMPLEMENTATION,
        "ws_ping_interval": settings.heartbeat_interval,
        "ws_ping_timeout": settings.agent_timeout,
        "ws_per_message_deflate": False,
        # Frames up to 4x MAX_MESSAGE_SIZE are read and answered with MESSAGE_TOO_LARGE;
        # anything bigger makes the WebSocket layer close the connection with 1009.
        "ws_max_size": 4 * settings.max_message_size,
        "lifespan": "on",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 3,
        "proxy_headers": False,
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class GatewayServer(uvicorn.Server):
    """A uvicorn server that drains and closes every agent session with 1001 before stopping.

    On SIGTERM/SIGINT it stops listening, lets sessions finish what they hold for at most
    DRAIN_TIMEOUT (see :mod:`.drain`), closes them with 1001 (the rest goes to the store),
    logs one line, and exits 0 (uvicorn alone would re-raise the signal once it is done).
    """

    async def shutdown(self, sockets: Any = None) -> None:
        """Stop listening, drain and close sessions (1001 going away), then let uvicorn finish."""
        app = self.config.loaded_app
        while app is not None and not isinstance(app, GatewayApp):
            app = getattr(app, "app", None)
        if isinstance(app, GatewayApp):
            for server in getattr(self, "servers", []):
                server.close()  # new connections go elsewhere (e.g. the next node)
            report = await app.hub.close_sessions(app.hub.settings.drain_timeout)
            logger.info(
                "drained sessions=%d delivered=%d stored=%d in %.2fs",
                report.sessions,
                report.delivered,
                report.left,
                report.seconds,
            )
        await super().shutdown(sockets)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def create_app_from_env() -> GatewayApp:
    """Application factory for worker processes: settings (and logging) from the environment."""
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_file)
    if settings.gateway_workers > 1:
        settings = settings.replace(node_id=f"{settings.node_id}-{os.getpid()}")
    return create_app(settings, load_or_create_key(settings.gateway_key_file))


def run(settings: Settings) -> None:
    """Serve the gateway until SIGINT/SIGTERM (one process, or GATEWAY_WORKERS processes)."""
    identity = load_or_create_key(settings.gateway_key_file)
    scheme_host = f"ws://{settings.gateway_host}:{settings.gateway_port}/ws"
    logger.info(
        "AIConexus gateway %s listening on %s (did=%s, backend=%s)",
        gateway_version(),
        scheme_host,
        identity.did,
        settings.storage_type,
    )
    if settings.gateway_workers == 1:
        config = uvicorn_config(settings, create_app(settings, identity))
        GatewayServer(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn_config(
        settings,
        "aiconexus_gateway.server:create_app_from_env",
        factory=True,
        workers=settings.gateway_workers,
    )
    # uvicorn's supervisor runs a plain uvicorn.Server per worker: on shutdown those close
    # sessions with 1012 (service restart) rather than 1001.
    Multiprocess(config, sockets=[config.bind_socket()]).run()
