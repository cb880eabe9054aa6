"""A bare WebSocket client (the core's handshake, no SDK), to inject frames the SDK never sends."""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from aiconexus import SUBPROTOCOL, Identity, Message
from aiconexus.protocol import ClientHandshake

__all__ = ["frame_dict", "raw_register", "recv_message"]


async def recv_message(connection: ClientConnection) -> Message:
    """The next frame, parsed."""
    frame = await connection.recv()
    assert isinstance(frame, str)
    return Message.parse(frame)


async def raw_register(url: str, identity: Identity) -> tuple[ClientConnection, str]:
    """Connect and register ``identity``; return the connection and the gateway's DID."""
    connection = await connect(url, subprotocols=[Subprotocol(SUBPROTOCOL)], compression=None)
    handshake = ClientHandshake(identity)
    register = handshake.receive_challenge(await connection.recv())
    await connection.send(register.to_json())
    granted = handshake.receive_reply(await connection.recv())
    return connection, granted.gateway_did


def frame_dict(message: Message) -> dict[str, Any]:
    """The envelope of ``message`` as a mutable dict."""
    data: dict[str, Any] = json.loads(message.to_json())
    return data
