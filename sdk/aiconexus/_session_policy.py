"""SessionPolicy: the options that say how a client's connection runs its sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aiconexus.backoff import Backoff
from aiconexus.retry import RetryPolicy, default_retry_policy

__all__ = ["SessionPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionPolicy:
    """How a dead session is noticed, when the next one opens, how a RATE_LIMITED is met.

    Raises ValueError when ``heartbeat_interval_s`` is not positive or ``on_rate_limited``
    is neither ``"hold"`` nor ``"raise"``.
    """

    heartbeat_interval_s: float | None = None
    """PING period; None: the one the gateway names in REGISTERED."""
    reconnect: bool = True
    """Open a new session after a drop (when ``retry_policy`` agrees)."""
    backoff: Backoff = field(default_factory=Backoff)
    """Delays between attempts to open the next session."""
    retry_policy: RetryPolicy = default_retry_policy
    """Decides from the exception (or close code) whether to reconnect."""
    retry_on_start: bool = False
    """Keep trying when no gateway answers the first connect (instead of raising)."""
    on_rate_limited: Literal["hold", "raise"] = "hold"
    """After RATE_LIMITED: hold, then write the frame again ("hold"), or fail the send."""

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s is not None and self.heartbeat_interval_s <= 0:
            raise ValueError("heartbeat_interval_s must be > 0")
        if self.on_rate_limited not in ("hold", "raise"):
            hold = self.on_rate_limited
            raise ValueError(f"on_rate_limited must be 'hold' or 'raise', not {hold!r}")
