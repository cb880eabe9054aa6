"""Server text frames written straight to bytes: the common send without a frame object each.

A server's frames are not masked (RFC 6455, section 5.1), so an unfragmented text frame is a
two-, four- or ten-byte header and the UTF-8 payload. websockets' ``ServerProtocol`` builds a
``Frame`` per message and serializes it through its extension chain; with no extension
negotiated (the gateway never negotiates one) the bytes are the same, built here at a third
of the cost. :func:`can_write_directly` says when that holds; otherwise the caller goes
through the protocol object as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from struct import Struct
from typing import Any

from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["can_write_directly", "text_frames", "through_core"]

_FIN_TEXT = 0x81
_HEAD_16 = Struct("!BBH")
_HEAD_64 = Struct("!BBQ")


def can_write_directly(conn: ServerProtocol) -> bool:
    """True when ``conn`` would serialize a text frame as :func:`text_frames` does.

    The connection is open, no extension transforms frames, no fragmented message is under
    way, and frames are not logged one by one (DEBUG).
    """
    return (
        conn.state is State.OPEN
        and not conn.extensions
        and not conn.expect_continuation_frame
        and not conn.debug
    )


def text_frames(texts: Iterable[str]) -> bytes:
    """The bytes of one unmasked, final text frame per string of ``texts``, in order."""
    parts: list[bytes] = []
    append = parts.append
    for text in texts:
        data = text.encode()
        size = len(data)
        if size < 126:
            append(bytes((_FIN_TEXT, size)))
        elif size < 65536:
            append(_HEAD_16.pack(_FIN_TEXT, 126, size))
        else:
            append(_HEAD_64.pack(_FIN_TEXT, 127, size))
        append(data)
    return b"".join(parts)


def through_core(conn: ServerProtocol, message: Mapping[str, Any], *, batch: bool) -> bytes:
    """The bytes of an ASGI send, built by ``conn`` itself (InvalidState when it is not open).

    ``texts`` when ``batch``, else ``text`` or ``bytes``.
    """
    if batch:
        for text in message["texts"]:
            conn.send_text(text.encode())
    elif (text := message.get("text")) is not None:
        conn.send_text(text.encode())
    else:
        conn.send_binary(message.get("bytes") or b"")
    return b"".join(conn.data_to_send())
