"""What the hub, the connections and the router share: built once where the app is assembled.

:func:`build_parts` makes every shared piece from the settings (the gateway's frames and
key, the signing/verifying threads, the metrics, the guards, the node's byte budget, the
backend and its frames of unknown outcome, the sessions' limits); they are handed to each
user as one frozen :class:`Parts`, so nobody reaches through the hub to find them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiconexus.protocol import Identity
from aiconexus_gateway.backend.base import Backend
from aiconexus_gateway.guards.access import AccessPolicy
from aiconexus_gateway.guards.iplimits import IpLimits
from aiconexus_gateway.guards.payload_check import PayloadCheck
from aiconexus_gateway.guards.ratelimit import RateLimits
from aiconexus_gateway.guards.refusals import RefusalPolicy
from aiconexus_gateway.guards.signatures import CryptoPool, default_threads
from aiconexus_gateway.observation.metrics import Metrics
from aiconexus_gateway.observation.refusal_log import RefusalLog
from aiconexus_gateway.settings import Settings

from .budget import ByteBudget
from .frames import GatewayFrames
from .node_state import NodeState
from .uncertain import UncertainFrames

__all__ = ["Guards", "Parts", "SessionLimits", "build_parts"]


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """The bounds of every session of the node, from the settings (which hold the defaults)."""

    queue: int
    """SEND_QUEUE_SIZE: live agent frames queued; also the reader's pause."""
    queue_bytes: int
    """SEND_QUEUE_BYTES (0: no bound)."""
    close_timeout: float
    """CLOSE_TIMEOUT: how long a close frame (and the closing handshake) may take."""
    window: int
    """INFLIGHT_WINDOW: frames in flight to a recipient that acknowledges (0: no bound)."""
    window_bytes: int
    """INFLIGHT_WINDOW_BYTES (0: no bound)."""
    ack_timeout: float
    """ACK_TIMEOUT: longest the oldest frame in flight waits for its acknowledgement."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionLimits:
        """The limits ``settings`` set."""
        return cls(
            queue=settings.send_queue_size,
            queue_bytes=settings.send_queue_bytes,
            close_timeout=settings.close_timeout,
            window=settings.inflight_window,
            window_bytes=settings.inflight_window_bytes,
            ack_timeout=settings.ack_timeout,
        )


@dataclass(frozen=True, slots=True)
class Guards:
    """Every check that may refuse a connection or a frame, and where refusals are noted."""

    ip_limits: IpLimits
    """Per-address connection counts and REGISTER budgets."""
    rate_limits: RateLimits | None
    """Per-agent frame and byte buckets (None: off)."""
    address_rate_limits: RateLimits | None
    """Per-address frame and byte buckets (None: off)."""
    refusals: RefusalPolicy
    """The ERROR budget and the closing streak (:mod:`..guards.refusals`)."""
    refusal_log: RefusalLog
    """The log lines of refusals (sampled)."""
    policy: AccessPolicy | None
    """The access policy of POLICY_FILE (None: everything allowed)."""
    payloads: PayloadCheck
    """The payload check of each message type."""


@dataclass(frozen=True, slots=True)
class Parts:
    """The shared pieces of one gateway node (see the module)."""

    settings: Settings
    did: str
    """The gateway's DID."""
    frames: GatewayFrames
    """Builds and signs the gateway's own frames."""
    crypto: CryptoPool
    """Signing and verifying, on threads when configured."""
    metrics: Metrics
    backend: Backend
    uncertain: UncertainFrames
    """Frames answered INTERNAL_ERROR whose ids are still to be freed."""
    budget: ByteBudget
    """Bytes of agent frames queued or in flight in every session (SEND_BYTES_TOTAL)."""
    node: NodeState
    session_limits: SessionLimits
    guards: Guards

    @property
    def node_id(self) -> str:
        """The id of this node."""
        return self.settings.node_id


def build_parts(
    settings: Settings,
    identity: Identity,
    backend: Backend,
    *,
    policy: AccessPolicy | None = None,
    metrics: Metrics | None = None,
    crypto_threads: int | None = None,
) -> Parts:
    """Every shared piece ``settings`` asks for (``crypto_threads``: GATEWAY_CRYPTO_THREADS)."""
    if crypto_threads is None:
        crypto_threads = settings.gateway_crypto_threads
    threads = default_threads() if crypto_threads is None else crypto_threads
    rate_limits = RateLimits.from_settings(settings)
    address_rate_limits = RateLimits.per_address(settings)
    guards = Guards(
        ip_limits=IpLimits.from_settings(settings),
        rate_limits=rate_limits if rate_limits.enabled else None,
        address_rate_limits=address_rate_limits if address_rate_limits.enabled else None,
        refusals=RefusalPolicy.from_settings(settings),
        refusal_log=RefusalLog(logging.getLogger("aiconexus.gateway")),
        policy=policy,
        payloads=PayloadCheck(settings, identity.did),
    )
    return Parts(
        settings=settings,
        did=identity.did,
        frames=GatewayFrames(identity),
        crypto=CryptoPool(threads, identity.sign),
        metrics=Metrics() if metrics is None else metrics,
        backend=backend,
        uncertain=UncertainFrames(backend),
        budget=ByteBudget(settings.send_bytes_total),
        node=NodeState(settings.max_connections),
        session_limits=SessionLimits.from_settings(settings),
        guards=guards,
    )
