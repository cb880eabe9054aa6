"""A raw IoAP test client over ``websockets``: explicit frames, no retries, no hidden ACKs.

>>> client = await RawClient.connect(gateway.ws_url, Identity.generate())   # CHALLENGE/REGISTER
>>> sent = await client.send_message("OFFER", other.did, {"sdp": "v=0"})
>>> ack = await client.expect("ACK")            # next frame must be an ACK
>>> await client.close()

The handshake is the protocol core's :class:`aiconexus.protocol.ClientHandshake` (its checks
of CHALLENGE and REGISTERED); tests that send broken REGISTERs build them with
:meth:`RawClient.register_message`. Frames from the gateway are parsed with
:class:`aiconexus.protocol.Message` and their signature is checked against the gateway's DID
learnt from CHALLENGE.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from aiconexus.protocol import ClientHandshake, Identity, Message, MessageType

__all__ = ["RawClient", "TIMEOUT_S", "forge", "parse_checked"]

TIMEOUT_S = 15.0
"""Default bound on every wait for something that must arrive (a deadline for failing, not a
delay: generous, for CI machines where a browser or a crash test competes for the cores)."""


def parse_checked(text: str, gateway_did: str | None) -> Message:
    """``text`` parsed; a frame from ``gateway_did`` must carry its valid signature."""
    message = Message.parse(text)
    if gateway_did is not None and message.from_ == gateway_did:
        message.verify()
    return message


class RawClient:
    """One WebSocket connection to the gateway, driven frame by frame.

    Every client opened is remembered until closed; :meth:`close_all` (run by the test
    suite after each test) closes those a test left open.
    """

    _open: ClassVar[set[RawClient]] = set()

    def __init__(self, ws: ClientConnection, identity: Identity) -> None:
        RawClient._open.add(self)
        self.ws = ws
        self.identity = identity
        self.handshake = ClientHandshake(identity)
        self.gateway_did: str | None = None
        self.challenge: Message | None = None
        self.registered: Message | None = None

    @property
    def did(self) -> str:
        """The DID of this client."""
        return self.identity.did

    @classmethod
    async def open(
        cls,
        url: str,
        identity: Identity | None = None,
        *,
        subprotocols: Sequence[str] | None = ("ioap.v1",),
        **options: Any,
    ) -> RawClient:
        """Connect without registering (the CHALLENGE is left unread)."""
        ws = await asyncio.wait_for(
            connect(
                url,
                subprotocols=[Subprotocol(name) for name in subprotocols] if subprotocols else None,
                **{"compression": None, "max_size": None, "open_timeout": TIMEOUT_S, **options},
            ),
            TIMEOUT_S,
        )
        return cls(ws, identity or Identity.generate())

    @classmethod
    async def connect(
        cls,
        url: str,
        identity: Identity | None = None,
        *,
        capabilities: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        **options: Any,
    ) -> RawClient:
        """Connect and register (CHALLENGE -> REGISTER -> REGISTERED)."""
        client = await cls.open(url, identity, **options)
        await client.read_challenge()
        await client.register(capabilities=capabilities, metadata=metadata)
        granted = client.handshake.receive_reply(await client.recv_text())
        client.registered = granted.message
        return client

    async def read_challenge(self) -> Message:
        """Read the CHALLENGE (checked by the handshake) and remember the gateway's DID."""
        self.handshake.receive_challenge(await self.recv_text())
        challenge = self.handshake.challenge
        assert challenge is not None
        self.gateway_did = challenge.from_
        self.challenge = challenge
        return challenge

    def register_message(
        self,
        *,
        capabilities: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Message:
        """A REGISTER answering the CHALLENGE (``overrides`` change payload fields)."""
        return self.handshake.register_message(
            capabilities=list(capabilities), metadata=metadata or {}, **overrides
        )

    async def register(self, **options: Any) -> Message:
        """Send REGISTER (the REGISTERED reply is left unread)."""
        message = self.register_message(**options)
        await self.send_text(message.to_json())
        return message

    def make(
        self, type: str, to: str | None, payload: dict[str, Any] | None = None, **kw: Any
    ) -> Message:
        """A message signed by this client."""
        return Message.create(self.identity, type, to, payload, **kw)

    async def send_message(
        self, type: str, to: str | None, payload: dict[str, Any] | None = None, **kw: Any
    ) -> Message:
        """Build, sign and send a message; returns it."""
        message = self.make(type, to, payload, **kw)
        await self.send_text(message.to_json())
        return message

    async def send_text(self, text: str | bytes) -> None:
        """Send one frame as is (bytes go out as a binary frame)."""
        await self.ws.send(text)

    async def recv_text(self, within: float = TIMEOUT_S) -> str:
        """The next frame's text."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancel() of the
        # caller that arrives as a frame does, and a cancelled reader would then run on.
        async with asyncio.timeout(within):
            frame = await self.ws.recv()
        assert isinstance(frame, str), f"binary frame from the gateway: {frame!r}"
        return frame

    async def recv(self, within: float = TIMEOUT_S) -> Message:
        """The next frame, parsed; a frame from the gateway must carry a valid signature."""
        return parse_checked(await self.recv_text(within), self.gateway_did)

    async def expect(self, type: str, within: float = TIMEOUT_S) -> Message:
        """The next frame, which must be of ``type``."""
        message = await self.recv(within)
        assert message.type == type, f"expected {type}, got {message.type}: {message.payload}"
        return message

    async def expect_error(
        self, code: str, correlation_id: str | None = None, within: float = TIMEOUT_S
    ) -> Message:
        """The next frame, which must be ERROR ``code`` (answering ``correlation_id``)."""
        message = await self.expect(MessageType.ERROR, within)
        assert message.payload["code"] == code, message.payload
        if correlation_id is not None:
            assert message.correlation_id == correlation_id, message
        return message

    async def refused(self, frame: Message | str | bytes, code: str) -> Message:
        """Send ``frame``, which must be refused with ERROR ``code``; returns the ERROR.

        A :class:`Message` is signed and sent, and the ERROR must answer its id; text or bytes
        go out as they are (broken frames), and the ERROR may answer nothing.
        """
        if isinstance(frame, Message):
            await self.send_text(frame.to_json())
            return await self.expect_error(code, frame.id)
        await self.send_text(frame)
        return await self.expect_error(code)

    async def expect_acks(self, count: int, within: float = TIMEOUT_S) -> dict[str, str]:
        """Read ACKs until ``count`` ids are acknowledged; ``{id: status}`` (each id once).

        One ACK may list several ids (coalesced); its ``correlation_id`` is the id when it
        lists exactly one, absent otherwise.
        """
        acked: dict[str, str] = {}
        while len(acked) < count:
            ack = await self.expect("ACK", within)
            ids = ack.payload["ids"]
            assert ids and ack.correlation_id == (ids[0] if len(ids) == 1 else None), ack
            for message_id in ids:
                assert message_id not in acked, f"{message_id} acknowledged twice"
                acked[message_id] = ack.payload["status"]
        return acked

    async def closed(self, within: float = TIMEOUT_S) -> int | None:
        """Wait until the gateway closes the connection (frames meanwhile are discarded)."""
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.ws.recv()
        except ConnectionClosed:
            pass
        return self.close_code

    @property
    def close_code(self) -> int | None:
        """The close code the gateway sent, once closed."""
        return self.ws.close_code

    @property
    def close_reason(self) -> str:
        """The close reason the gateway sent, once closed ("" before)."""
        return self.ws.close_reason or ""

    async def close(self) -> None:
        """Close the connection normally."""
        RawClient._open.discard(self)
        await self.ws.close()

    @classmethod
    async def close_all(cls) -> None:
        """Close every client still open (bounded: a dead peer is aborted)."""
        for client in list(cls._open):
            cls._open.discard(client)
            try:
                async with asyncio.timeout(2):
                    await client.ws.close()
            except TimeoutError:
                client.ws.transport.abort()


def forge(identity: Identity, **fields: Any) -> str:
    """A frame signed by ``identity`` with any envelope fields, valid or not.

    Defaults: version 1.0, a fresh id, type OFFER, from = identity's DID, to null, timestamp
    now, payload {}. Pass ``from_`` for ``from``; a field set to ``...`` is left out.
    Pass ``signature`` to override the computed one.
    """
    import json
    import uuid

    from aiconexus.protocol import b64url_encode, canonicalize, format_timestamp

    envelope: dict[str, Any] = {
        "version": "1.0",
        "id": str(uuid.uuid4()),
        "type": "OFFER",
        "from": identity.did,
        "to": None,
        "timestamp": format_timestamp(),
        "payload": {},
    }
    if "from_" in fields:
        fields["from"] = fields.pop("from_")
    signature = fields.pop("signature", None)
    envelope.update(fields)
    envelope = {k: v for k, v in envelope.items() if v is not ...}
    if signature is None:
        signature = b64url_encode(identity.sign(canonicalize(envelope)))
    envelope["signature"] = signature
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
