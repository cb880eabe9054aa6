"""The A2A bridge as the gateway runs it (A2A_ENABLED=true); see :mod:`..embed`."""

from __future__ import annotations

from ...settings import Settings
from ..callers import Callers, load_or_create_secret
from ..embed import gateway_ws_url
from .bridge import A2ABridge, BridgeConfig

__all__ = ["EmbeddedA2A", "create"]


class EmbeddedA2A:
    """The A2A bridge mounted at ``/a2a`` of the gateway."""

    path = "/a2a"

    def __init__(self, bridge: A2ABridge) -> None:
        self.bridge = bridge
        self.app = bridge.app

    async def start(self) -> None:
        """Start the bridge (its clients connect lazily)."""
        await self.bridge.start()

    async def stop(self) -> None:
        """Stop the bridge."""
        await self.bridge.stop()


def config_from_settings(
    settings: Settings, gateway_url: str, gateway_did: str | None
) -> BridgeConfig:
    """The bridge configuration the gateway settings give."""
    secret = load_or_create_secret(settings.bridge_secret_path)
    callers = Callers(
        dict(settings.bridge_tokens),
        secret,
        allow_anonymous=settings.bridge_allow_anonymous,
    )
    public = settings.announced_public_url or settings.loopback_url
    return BridgeConfig(
        gateway_url=gateway_url,
        public_url=public,
        callers=callers,
        storage_type=settings.storage_type,
        sqlite_path=settings.sqlite_path.with_name(f"{settings.sqlite_path.stem}-a2a.db"),
        redis_url=settings.redis_url,
        agents_token=settings.agents_token,
        max_body_bytes=settings.max_message_size,
        gateway_did=gateway_did,
        remote_agents=settings.a2a_remote_agents,
        remote_secret=secret,
        encrypt_all="EXEC_REQUEST" in settings.require_encryption,
    )


def create(settings: Settings, gateway_did: str) -> EmbeddedA2A:
    """Build the embedded A2A bridge for this gateway."""
    config = config_from_settings(settings, gateway_ws_url(settings), gateway_did)
    return EmbeddedA2A(A2ABridge(config))
