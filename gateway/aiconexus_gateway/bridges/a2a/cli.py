"""The standalone A2A bridge: ``aiconexus-a2a-bridge --gateway ws://host:port/ws``.

It serves ``/a2a/...`` (and ``/health``) on its own address for any gateway it can reach.
Its settings come from the same environment variables as the embedded bridge's
(BRIDGE_TOKENS, BRIDGE_ALLOW_ANONYMOUS, BRIDGE_SECRET_FILE or GATEWAY_KEY_FILE's folder,
STORAGE_TYPE with SQLITE_PATH or REDIS_URL for its tasks, AGENTS_TOKEN, A2A_REMOTE_AGENTS);
``--public-url`` is where A2A clients reach it (default: its own ``http://host:port``).
Agents learn the public URL from their gateway (PUBLIC_URL), so set the gateway's PUBLIC_URL
to this bridge's public URL for agents to sign cards pointing here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from ...settings import Settings, SettingsError
from .bridge import A2ABridge
from .embedded import config_from_settings

__all__ = ["build_app", "main"]

EXIT_CONFIG = 2


def build_app(bridge: A2ABridge) -> Starlette:
    """The standalone server's application: ``/a2a`` and ``/health``."""

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "gateway": bridge.config.gateway_url})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        try:
            yield
        finally:
            await bridge.stop()

    routes = [Route("/health", health), Mount("/a2a", app=bridge.app)]
    return Starlette(routes=routes, lifespan=lifespan)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(
        prog="aiconexus-a2a-bridge",
        description="Serve the agents of an AIConexus gateway to A2A clients, at /a2a/<DID>.",
    )
    parser.add_argument("--gateway", required=True, help="the gateway's ws://host:port/ws URL")
    parser.add_argument("--gateway-did", help="pin the gateway's DID")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8100, help="TCP port (default 8100)")
    parser.add_argument("--public-url", help="the URL A2A clients reach this bridge at")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the standalone bridge until SIGINT/SIGTERM; exit 2 on a bad setting."""
    args = parse_args(argv)
    environ = {**os.environ, "GATEWAY_HOST": args.host, "GATEWAY_PORT": str(args.port)}
    if args.public_url:
        environ["PUBLIC_URL"] = args.public_url
    try:
        settings = Settings.from_env(environ)
        config = config_from_settings(settings, args.gateway, args.gateway_did)
    except (SettingsError, ValueError, OSError) as exc:
        print(f"aiconexus-a2a-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    bridge = A2ABridge(config)
    server = uvicorn.Server(
        uvicorn.Config(build_app(bridge), host=args.host, port=args.port, log_level="info")
    )
    asyncio.run(server.serve())
    return 0
