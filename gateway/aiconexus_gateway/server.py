"""Running the gateway under uvicorn with the settings that matter for WebSockets.

uvicorn's ``websockets-sansio`` implementation is the fastest one that honours
``ws_ping_interval``/``ws_ping_timeout`` (dead connections are found by WebSocket pings); the
gateway runs it with one addition, batched sends (see :mod:`.ws_protocol`).
permessage-deflate is never negotiated (it costs most of the throughput).
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from .app import GatewayApp, create_app, gateway_version
from .keys import load_or_create_key
from .logs import configure_logging
from .settings import Settings
from .ws_protocol import BatchingWebSocketProtocol

__all__ = ["GatewayServer", "GatewaySupervisor", "create_app_from_env", "run", "uvicorn_config"]

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
    """A uvicorn server that closes every agent session with 1001 before stopping.

    A SIGTERM/SIGINT is a requested, clean stop: the process exits 0 afterwards (uvicorn
    alone would re-raise the signal once it is done).
    """

    async def shutdown(self, sockets: Any = None) -> None:
        """Close sessions first (1001 going away), then let uvicorn finish."""
        app = self.config.loaded_app
        while app is not None and not isinstance(app, GatewayApp):
            app = getattr(app, "app", None)
        if isinstance(app, GatewayApp):
            await app.hub.close_sessions()
        await super().shutdown(sockets)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def create_app_from_env() -> GatewayApp:
    """Application factory for worker processes: settings (and logging) from the environment."""
    # Until the application's start-up takes SIGHUP over (policy reload), ignore it: a
    # SIGHUP forwarded by the supervisor must never stop a worker that is still starting.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_file)
    if settings.gateway_workers > 1:
        settings = settings.replace(node_id=f"{settings.node_id}-{os.getpid()}")
    return create_app(settings, load_or_create_key(settings.gateway_key_file))


def run(settings: Settings) -> None:
    """Serve the gateway until SIGINT/SIGTERM (one process, or GATEWAY_WORKERS processes).

    SIGHUP reloads the access policy (POLICY_FILE) in every process; sessions stay.
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the start-up installs the reload
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
    config = uvicorn_config(
        settings,
        "aiconexus_gateway.server:create_app_from_env",
        factory=True,
        workers=settings.gateway_workers,
    )
    # uvicorn's supervisor runs a plain uvicorn.Server per worker: on shutdown those close
    # sessions with 1012 (service restart) rather than 1001.
    GatewaySupervisor(config, sockets=[config.bind_socket()]).run()


class GatewaySupervisor(Multiprocess):
    """uvicorn's worker supervisor, except that SIGHUP goes on to every worker.

    uvicorn would restart the workers (dropping every session); the gateway's workers
    reload their access policy on SIGHUP instead.
    """

    def handle_hup(self) -> None:
        """Forward SIGHUP to each worker process."""
        logger.info("SIGHUP: reloading the access policy in %d workers", len(self.processes))
        for process in self.processes:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGHUP)
