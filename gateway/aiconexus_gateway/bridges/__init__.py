"""Bridges: the gateway's agents seen from other agent protocols (optional layer).

Bridges are SDK clients of the gateway: they may import the shared top-level pieces and
:mod:`..guards` (operator tokens), nothing of the gateway's routing or transport.

What this package owns:

* :mod:`.callers`: the callers of a bridge (``BRIDGE_TOKENS``), each with a stable DID of
  its own derived from the bridge secret, so per-DID rate limits and the access policy
  apply to each caller;
* :mod:`.pool`: one connected SDK client per caller identity, created lazily, bounded in
  number, closed when idle, and ``request()`` outcomes mapped to typed results;
* :mod:`.directory`: the gateway's directory followed through its change events (a poll as
  the fallback), for the MCP bridge's tools and the A2A bridge's cards alike;
* :mod:`.embed`: running a bridge inside the gateway process (``A2A_ENABLED``), mounted on
  the gateway's HTTP application and connected to the gateway's own loopback URL;
* ``a2a/``: the A2A bridge (extra ``aiconexus-gateway[a2a]``); ``mcp/``: the MCP bridge
  (extra ``aiconexus-gateway[mcp]``).

A bridge is a *client* of the gateway: it imports only the SDK's public API
(``aiconexus.GatewayClient``, ``aiconexus.Identity``, ``aiconexus.directory`` ...) and
never the hub, router or session internals; the gateway core knows nothing of A2A or MCP.
"""

from __future__ import annotations

__all__: list[str] = []
