"""A bare WebSocket client that registers by hand, to inject frames the SDK would never send."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from aiconexus import SUBPROTOCOL, Identity, Message, MessageType

__all__ = ["frame_dict", "raw_register", "recv_message"]


async def recv_message(connection: ClientConnection) -> Message:
    """The next frame, parsed."""
    frame = await connection.recv()
    assert isinstance(frame, str)
    return Message.parse(frame)


async def raw_register(url: str, identity: Identity) -> tuple[ClientConnection, str]:
    """Connect and register ``identity``; return the connection and the gateway's DID."""
    connection = await connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None)
    challenge = await recv_message(connection)
    register = Message.create(
        identity,
        MessageType.REGISTER,
        challenge.from_,
        {"nonce": challenge.payload["nonce"], "capabilities": []},
    )
    await connection.send(register.to_json())
    registered = await recv_message(connection)
    assert registered.type == MessageType.REGISTERED, registered
    return connection, challenge.from_


def frame_dict(message: Message) -> dict[str, Any]:
    """The envelope of ``message`` as a mutable dict."""
    data: dict[str, Any] = json.loads(message.to_json())
    return data
