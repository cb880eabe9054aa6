"""uvicorn's ``websockets-sansio`` WebSocket protocol, plus one ASGI extension: batched sends.

A ``{"type": "websocket.send.batch", "texts": [...]}`` message writes several text frames
with a single socket write (one system call instead of one per frame). The extension is
announced in ``scope["extensions"]`` as :data:`SEND_BATCH`; the gateway falls back to one
``websocket.send`` per frame when it runs under a server without it.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

__all__ = ["SEND_BATCH", "BatchingWebSocketProtocol"]

SEND_BATCH = "websocket.send.batch"
"""The ASGI message type (and scope extension name) of a batched send."""


class BatchingWebSocketProtocol(WebSocketsSansIOProtocol):
    """The sans-I/O protocol of uvicorn that also accepts ``websocket.send.batch``."""

    def handle_connect(self, event: Request) -> None:
        """As uvicorn, then announce the batch extension in the scope."""
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][SEND_BATCH] = {}

    async def send(self, message: Any) -> None:
        """Write a batch of text frames at once; anything else as uvicorn does."""
        if message["type"] != SEND_BATCH:
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected or self.close_sent:
            raise ClientDisconnected()
        try:
            for text in message["texts"]:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))
