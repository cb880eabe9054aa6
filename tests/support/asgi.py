"""The gateway's ASGI application driven directly: queues for ``receive``/``send``, no socket.

:func:`asgi_gateway` runs the application's lifespan (the hub starts and stops as under
uvicorn) and opens WebSocket connections on ``/ws`` as ASGI calls whose events the test
feeds and reads::

    async with asgi_gateway(Settings()) as gateway:
        alice = await gateway.register()            # connect, CHALLENGE, REGISTER, REGISTERED
        conn = await gateway.open(client=("10.0.0.9", 4000))
        challenge = await conn.frame()              # the CHALLENGE
        await conn.send_text("not json")
        close = await conn.close_event()            # {"type": "websocket.close", "code": 1008, ...}

Frames the application sends in a ``websocket.send.batch`` (offered with ``batch=True``)
are read one by one, like single sends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiconexus.protocol import Identity, Message, MessageType
from aiconexus_gateway.app import GatewayApp, create_app
from aiconexus_gateway.settings import Settings
from aiconexus_gateway.transport.ws_protocol import SEND_BATCH

from .client import parse_checked

__all__ = ["AsgiConnection", "AsgiGateway", "asgi_gateway"]

TIMEOUT_S = 5.0


class AsgiConnection:
    """One ``/ws`` connection: the application runs as a task fed by ``incoming``."""

    def __init__(self, app: GatewayApp, scope: dict[str, Any], identity: Identity) -> None:
        self.scope = scope
        self.identity = identity
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._frames: deque[str] = deque()
        self.accepted: dict[str, Any] | None = None
        self.challenge: Message | None = None
        self.gateway_did: str | None = None
        self.task = asyncio.get_running_loop().create_task(app(scope, self._receive, self._send))

    @property
    def did(self) -> str:
        """The DID this connection registers as."""
        return self.identity.did

    async def _receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def _send(self, message: Any) -> None:
        await self.outgoing.put(dict(message))

    async def event(self, within: float = TIMEOUT_S) -> dict[str, Any]:
        """The next event the application sent (a batch counts as its frames, one by one)."""
        if self._frames:
            return {"type": "websocket.send", "text": self._frames.popleft()}
        event = await asyncio.wait_for(self.outgoing.get(), within)
        if event["type"] == SEND_BATCH:
            self._frames.extend(event["texts"])
            return await self.event(within)
        return event

    async def text(self, within: float = TIMEOUT_S) -> str:
        """The text of the next frame; AssertionError if the application sent anything else."""
        event = await self.event(within)
        assert event["type"] == "websocket.send", event
        text: str = event["text"]
        return text

    async def frame(self, within: float = TIMEOUT_S) -> Message:
        """The next frame, parsed; the gateway's own frames must verify."""
        return parse_checked(await self.text(within), self.gateway_did)

    async def expect(self, type: str, within: float = TIMEOUT_S) -> Message:
        """The next frame, which must be of ``type``."""
        message = await self.frame(within)
        assert message.type == type, message
        return message

    async def close_event(self, within: float = TIMEOUT_S) -> dict[str, Any]:
        """The next event, which must be ``websocket.close``; the application then returns."""
        event = await self.event(within)
        assert event["type"] == "websocket.close", event
        await self.disconnect(event.get("code", 1000))
        return event

    async def accept(self) -> dict[str, Any]:
        """Send ``websocket.connect``; return the ``websocket.accept`` event."""
        await self.incoming.put({"type": "websocket.connect"})
        event = await self.event()
        assert event["type"] == "websocket.accept", event
        self.accepted = event
        return event

    async def read_challenge(self) -> Message:
        """Read the CHALLENGE; remember the gateway's DID."""
        challenge = Message.parse(await self.text())
        assert challenge.type == MessageType.CHALLENGE, challenge
        challenge.verify()
        self.challenge, self.gateway_did = challenge, challenge.from_
        return challenge

    def make(
        self, type: str, to: str | None, payload: dict[str, Any] | None = None, **kw: Any
    ) -> Message:
        """A message signed by this connection's identity."""
        return Message.create(self.identity, type, to, payload, **kw)

    def register_message(self, **payload: Any) -> Message:
        """A REGISTER answering the CHALLENGE (``payload`` adds or changes fields)."""
        assert self.challenge is not None and self.gateway_did is not None
        body = {"nonce": self.challenge.payload["nonce"], "capabilities": [], "metadata": {}}
        body.update(payload)
        return self.make(MessageType.REGISTER, self.gateway_did, body)

    async def send_text(self, text: str) -> None:
        """A text frame from the peer."""
        await self.incoming.put({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """A binary frame from the peer."""
        await self.incoming.put({"type": "websocket.receive", "bytes": data})

    async def send_message(
        self, type: str, to: str | None, payload: dict[str, Any] | None = None, **kw: Any
    ) -> Message:
        """Sign and send a message; returns it."""
        message = self.make(type, to, payload, **kw)
        await self.send_text(message.to_json())
        return message

    async def disconnect(self, code: int = 1000) -> None:
        """The peer goes away; wait until the application returned."""
        await self.incoming.put({"type": "websocket.disconnect", "code": code})
        await asyncio.wait_for(self.task, TIMEOUT_S)


class AsgiGateway:
    """The application with its lifespan started; opens connections on it."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app
        self.connections: list[AsgiConnection] = []

    async def open(
        self,
        identity: Identity | None = None,
        *,
        path: str = "/ws",
        subprotocols: Sequence[str] = ("ioap.v1",),
        client: tuple[str, int] | None = ("127.0.0.1", 50000),
        batch: bool = False,
    ) -> AsgiConnection:
        """A new connection (not yet accepted: call :meth:`AsgiConnection.accept`)."""
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "path": path,
            "subprotocols": list(subprotocols),
            "client": client,
            "headers": [],
            "extensions": {SEND_BATCH: {}} if batch else {},
        }
        connection = AsgiConnection(self.app, scope, identity or Identity.generate())
        self.connections.append(connection)
        return connection

    async def register(self, identity: Identity | None = None, **options: Any) -> AsgiConnection:
        """Open, accept, read the CHALLENGE, REGISTER; the REGISTERED is read and checked.

        ``options`` go to :meth:`open` (``client``, ``batch``...) or into the REGISTER's
        payload (``capabilities``, ``recipient_acks``...).
        """
        opening = {k: options.pop(k) for k in ("client", "batch", "subprotocols") if k in options}
        connection = await self.open(identity, **opening)
        await connection.accept()
        await connection.read_challenge()
        await connection.send_text(connection.register_message(**options).to_json())
        registered = await connection.expect(MessageType.REGISTERED)
        assert registered.to == connection.did
        return connection

    async def close_all(self) -> None:
        """Disconnect every connection still served."""
        for connection in self.connections:
            if not connection.task.done():
                await connection.incoming.put({"type": "websocket.disconnect", "code": 1000})
        tasks = [c.task for c in self.connections]
        if tasks:
            await asyncio.wait(tasks, timeout=TIMEOUT_S)


async def _lifespan(app: GatewayApp, receive: asyncio.Queue[Any], sent: asyncio.Queue[Any]) -> None:
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def send(message: Any) -> None:
        await sent.put(dict(message))

    await app(scope, receive.get, send)


@asynccontextmanager
async def asgi_gateway(
    settings: Settings, identity: Identity | None = None
) -> AsyncIterator[AsgiGateway]:
    """The gateway application for ``settings``, started through its ASGI lifespan."""
    app = create_app(settings, identity or Identity.generate())
    receive: asyncio.Queue[Any] = asyncio.Queue()
    sent: asyncio.Queue[Any] = asyncio.Queue()
    lifespan = asyncio.get_running_loop().create_task(_lifespan(app, receive, sent))
    await receive.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(sent.get(), TIMEOUT_S)
    assert started["type"] == "lifespan.startup.complete", started
    gateway = AsgiGateway(app)
    try:
        yield gateway
    finally:
        await gateway.close_all()
        await receive.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(TimeoutError):
            stopped = await asyncio.wait_for(sent.get(), TIMEOUT_S)
            assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await asyncio.wait_for(lifespan, TIMEOUT_S)
