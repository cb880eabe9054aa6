"""AIConexus gateway: agents connect to ``/ws``, prove who they are, and exchange signed frames.

The package is laid out by concern; each folder's docstring says what it owns and what it
may import (``tests/gateway/test_layout.py`` checks the rules):

- :mod:`.transport`: bytes on sockets: the WebSocket and HTTP protocols, the handshake, HEAD.
- :mod:`.routing`: sessions and the per-frame path: the hub, connections, the router, the
  send queues, recipient acknowledgements, the offline store's order.
- :mod:`.guards`: every decision to refuse: signatures, sizes, rate limits, per-address
  limits, the access policy, REGISTER checks, the payload check, operator tokens.
- :mod:`.observation`: what operators see: metrics, logs, the status page, ``/agents``.
- :mod:`.backend`: presence, routing across nodes and the offline store (memory, SQLite, Redis).
- :mod:`.bridges`: A2A and MCP bridges, SDK clients of the gateway.

At the top: :mod:`.settings` (the one place the environment is read), :mod:`.app` (where
the parts are assembled), :mod:`.server` (running it under uvicorn), :mod:`.cli`, and small
shared pieces (:mod:`.errors`, :mod:`.keys`, :mod:`.tasks`, :mod:`.lean`).
"""
