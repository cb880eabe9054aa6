"""Running the gateway under uvicorn with the settings that matter for WebSockets.

uvicorn runs the event loop, the listening socket, the lifespan and the worker processes;
the bytes of each connection are the gateway's own protocols': HTTP/1.1 over httptools'
parser (:mod:`.http_protocol`, with the request-head deadline and per-address counts), and
WebSockets (:mod:`.ws_protocol`: websockets' sans-I/O core, as fast as uvicorn's
``websockets-sansio``, plus batched sends), which honours
``ws_ping_interval``/``ws_ping_timeout`` (dead connections are found by WebSocket pings) and
never negotiates permessage-deflate (it costs most of the throughput).
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from aiconexus_gateway.app import GatewayApp, create_app, gateway_version
from aiconexus_gateway.errors import GatewayError
from aiconexus_gateway.keys import load_or_create_key
from aiconexus_gateway.observation.logs import configure_logging
from aiconexus_gateway.settings import Settings
from aiconexus_gateway.transport.http_protocol import HttpProtocol

__all__ = [
    "FILES_PER_CONNECTION",
    "GatewayServer",
    "GatewaySupervisor",
    "ListenError",
    "bind_listener",
    "check_open_files",
    "create_app_from_env",
    "run",
    "uvicorn_config",
]

logger = logging.getLogger("aiconexus.gateway")

HTTP_IMPLEMENTATION = HttpProtocol
"""uvicorn's ``http`` option: the gateway's own protocol, which upgrades WebSocket requests to
:class:`.ws_protocol.BatchingWebSocketProtocol` itself (so uvicorn's ``ws`` is ``"none"``)."""

FILES_PER_CONNECTION = 2
"""Open files to plan per MAX_CONNECTIONS: a WebSocket each, plus as many TCP connections
still sending their request head (bounded by HANDSHAKE_TIMEOUT and the per-IP limits)."""
SPARE_FILES = 64
"""Open files kept for everything else (listening socket, logs, Redis, key file...)."""


def check_open_files(max_connections: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards what MAX_CONNECTIONS needs; warn only if it bites.

    The gateway asks for two files per connection (the WebSocket and as many connections
    still in their handshake) plus :data:`SPARE_FILES`, up to the hard limit. It warns only
    when even MAX_CONNECTIONS WebSockets would not fit (then connections fail before the
    limit refuses them cleanly); with less room for handshakes than asked it says so at INFO.
    Returns the soft limit in force afterwards.
    """
    wanted = FILES_PER_CONNECTION * max_connections + SPARE_FILES
    needed = max_connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-file limit to %d: %s", target, exc)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return int(soft)
    if soft < needed:
        logger.warning(
            "open-file limit %d is below the %d that MAX_CONNECTIONS=%d needs: at the limit "
            "new connections fail; raise `ulimit -n` (Docker: ulimits: nofile) or lower "
            "MAX_CONNECTIONS",
            soft,
            needed,
            max_connections,
        )
    else:
        logger.info(
            "open-file limit %d: MAX_CONNECTIONS=%d fit, with room for %d connections still "
            "in their handshake (%d asked for)",
            soft,
            max_connections,
            soft - needed,
            wanted - needed,
        )
    return int(soft)


def uvicorn_config(settings: Settings, app: Any, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration of a gateway for ``settings``."""
    options: dict[str, Any] = {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "http": HTTP_IMPLEMENTATION,
        "ws": "none",  # HTTP_IMPLEMENTATION upgrades to the gateway's own WebSocket protocol
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
        # From TRUSTED_PROXIES only, the client is the rightmost X-Forwarded-For entry that
        # is not a trusted proxy (uvicorn's middleware rewrites the scope's client).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class ListenError(GatewayError, OSError):
    """The gateway cannot listen; ``variable`` names the setting to change."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


def bind_listener(settings: Settings) -> socket.socket:
    """A TCP socket bound to GATEWAY_HOST:GATEWAY_PORT (uvicorn listens on it).

    Raises :class:`ListenError` naming GATEWAY_PORT (port in use, or privileged) or
    GATEWAY_HOST (no such address on this machine).
    """
    host, port = settings.gateway_host, settings.gateway_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        by_port = exc.errno in (errno.EADDRINUSE, errno.EACCES)
        variable = "GATEWAY_PORT" if by_port else "GATEWAY_HOST"
        cause = exc.strerror or str(exc)
        raise ListenError(variable, f"cannot listen on {host}:{port}: {cause}") from None
    sock.set_inheritable(True)
    return sock


class GatewayServer(uvicorn.Server):
    """A uvicorn server that drains and closes every agent session with 1001 before stopping.

    On SIGTERM/SIGINT it stops listening, lets sessions finish what they hold for at most
    DRAIN_TIMEOUT (see :mod:`.drain`), closes them with 1001 (the rest goes to the store),
    logs one line, and exits 0 (uvicorn alone would re-raise the signal once it is done).
    ``on_started`` runs once the socket listens (it logs the "listening" line).
    """

    def __init__(
        self, config: uvicorn.Config, *, on_started: Callable[[list[str]], None] | None = None
    ) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving; then report the addresses actually listened on."""
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            bound = [sock.getsockname() for server in self.servers for sock in server.sockets]
            self._on_started([f"{address[0]}:{address[1]}" for address in bound])

    async def shutdown(self, sockets: Any = None) -> None:
        """Stop listening, drain and close sessions (1001 going away), then let uvicorn finish."""
        app = self.config.loaded_app
        while app is not None and not isinstance(app, GatewayApp):
            app = getattr(app, "app", None)
        if isinstance(app, GatewayApp):
            for server in getattr(self, "servers", []):
                server.close()  # new connections go elsewhere (e.g. the next node)
            report = await app.hub.close_sessions(app.parts.settings.drain_timeout)
            logger.info(
                "drained",
                extra={
                    "sessions": report.sessions,
                    "delivered": report.delivered,
                    "stored": report.left,
                    "seconds": round(report.seconds, 2),
                },
            )
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM: stop (a second SIGINT forces it), and exit 0 once stopped.

        uvicorn's own handler also records the signal to raise it again after the shutdown;
        the gateway's shutdown is its normal end, so the signal is not recorded.
        """
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def create_app_from_env() -> GatewayApp:
    """Application factory for worker processes: settings (and logging) from the environment."""
    # Until the application's start-up takes SIGHUP over (policy reload), ignore it: a
    # SIGHUP forwarded by the supervisor must never stop a worker that is still starting.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_level, settings.log_file, settings.log_format)
    check_open_files(settings.max_connections)
    if settings.gateway_workers > 1:
        settings = settings.replace(node_id=f"{settings.node_id}-{os.getpid()}")
    return create_app(settings, load_or_create_key(settings.gateway_key_file))


def run(settings: Settings) -> None:
    """Serve the gateway until SIGINT/SIGTERM (one process, or GATEWAY_WORKERS processes).

    SIGHUP reloads the access policy (POLICY_FILE) in every process; sessions stay.
    Raises :class:`ListenError` when the address cannot be bound (nothing was started).
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the start-up installs the reload
    listener = bind_listener(settings)  # first: a taken port fails before anything else
    identity = load_or_create_key(settings.gateway_key_file)
    check_open_files(settings.max_connections)

    def listening(addresses: list[str]) -> None:
        logger.info(
            "listening",
            extra={
                "url": " ".join(f"ws://{address}/ws" for address in addresses),
                "version": gateway_version(),
                "did": identity.did,
                "backend": settings.storage_type,
                "node_id": settings.node_id,
                "workers": settings.gateway_workers,
            },
        )

    if settings.gateway_workers == 1:
        config = uvicorn_config(settings, create_app(settings, identity))
        GatewayServer(config, on_started=listening).run(sockets=[listener])
        return
    config = uvicorn_config(
        settings,
        "aiconexus_gateway.server:create_app_from_env",
        factory=True,
        workers=settings.gateway_workers,
    )
    # uvicorn's supervisor runs a plain uvicorn.Server per worker: on shutdown those close
    # sessions with 1012 (service restart) rather than 1001.
    host, port = listener.getsockname()[:2]
    listening([f"{host}:{port}"])  # bound here; each worker process listens on it
    GatewaySupervisor(config, sockets=[listener]).run()


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
