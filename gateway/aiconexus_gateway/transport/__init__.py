"""Transport: bytes on sockets, up to an ASGI scope and the frames of one WebSocket.

Owns our WebSocket server protocol (websockets' sans-I/O core pumped by asyncio), the
opening handshake, keepalive, the HTTP protocol with its header deadline, and HEAD as GET.
May import the shared top-level pieces and :mod:`..guards` (per-address limits), never
:mod:`..routing`, :mod:`..observation` or :mod:`..backend`.
"""
