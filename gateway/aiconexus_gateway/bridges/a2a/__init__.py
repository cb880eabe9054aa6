"""The A2A bridge: every AIConexus agent an A2A agent, and A2A agents AIConexus agents.

Needs the ``a2a`` extra (``pip install 'aiconexus-gateway[a2a]'``): importing this package
without it raises an ImportError saying so. Modules: :mod:`.mapping` (A2A <-> IoAP, no I/O),
:mod:`.store` (tasks and cards: memory, SQLite, Redis), :mod:`.events` (task streams),
:mod:`.runner` (a task's life: stored, sent through the client pool, settled by its
answer), :mod:`.handler` (a2a-sdk's RequestHandler over it), :mod:`.cards` (the agents'
cards, following the directory), :mod:`.app` (the HTTP application under ``/a2a``),
:mod:`.verify` (card signatures), :mod:`.remote` (outbound proxies), :mod:`.bridge` (all of
it assembled) and :mod:`.cli` (the standalone server).
"""

from __future__ import annotations

try:
    import a2a.server.routes
    import a2a.utils.signing  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the A2A bridge needs the a2a extra: pip install 'aiconexus-gateway[a2a]'"
    ) from exc

from .bridge import A2ABridge, BridgeConfig

__all__ = ["A2ABridge", "BridgeConfig"]
