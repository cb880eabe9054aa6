"""The per-frame path of a registered session: the five checks, then delivery or storage.

Checks run in the order of the wire contract: ``from`` is the session's DID (DID_MISMATCH),
the signature verifies (INVALID_SIGNATURE), the timestamp is fresh (CLOCK_SKEW), the payload
fits its type (MALFORMED_MESSAGE), and the (from, id) pair is new (REPLAY_DETECTED; checked
last so that a rejected frame does not use up its id).

The one gateway type an agent may send is a recipient acknowledgement: ``ACK`` addressed to
the gateway with ``{"status": "received", "ids": [...]}``, on a session that asked for
recipient acknowledgements. It passes the same checks except the replay check (it is never
answered and only takes frames out of this session's in-flight window), then goes to
:meth:`Hub.received`. Any other ACK from an agent is refused with UNAUTHORIZED.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from aiconexus.protocol import (
    GATEWAY_TYPES,
    MAX_ID_LENGTH,
    Envelope,
    ErrorCode,
    IoapError,
    MessageType,
    b64url_decode,
    error_from_code,
    is_valid_did,
    parse_envelope,
    parse_timestamp,
    signing_bytes,
    validate_payload,
)

from .backend.base import BackendUnavailableError
from .crypto import verify_signature
from .hub import Hub
from .inflight import recipient_ack_ids
from .session import Outgoing, Session

__all__ = ["Router", "guess_id", "utf8_length_over"]

logger = logging.getLogger("aiconexus.gateway")

_GATEWAY_ONLY = frozenset(t.value for t in GATEWAY_TYPES)
_MESSAGE_TYPES = {t.value: t for t in MessageType}
_WHILE_STOPPING = frozenset({MessageType.ACK, MessageType.PING, MessageType.UNREGISTER})
"""Frames still handled while the gateway drains (see :mod:`.drain`)."""


def utf8_length_over(text: str, limit: int) -> bool:
    """True if ``text`` takes more than ``limit`` bytes as UTF-8 (encoding only if needed)."""
    if len(text) > limit:
        return True
    if 4 * len(text) <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def guess_id(text: str) -> str | None:
    """The ``id`` of a rejected frame when it can be read, for the ERROR's correlation_id."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH:
            return value
    return None


class Router:
    """Checks and routes the frames of registered sessions."""

    def __init__(self, hub: Hub) -> None:
        settings = hub.settings
        self.hub = hub
        self.gateway_did = hub.did
        self.max_size = settings.max_message_size
        self.verify = settings.verify_signatures
        self.validate_dids = settings.validate_dids
        self.skew = settings.clock_skew
        self.window = settings.replay_window
        self.crypto = hub.crypto

    async def handle(self, session: Session, text: str) -> None:
        """Check one text frame from ``session`` and route it or answer ERROR."""
        hub = self.hub
        if utf8_length_over(text, self.max_size):
            hub.reject(
                session,
                ErrorCode.MESSAGE_TOO_LARGE,
                f"frame exceeds the maximum size of {self.max_size} bytes",
                guess_id(text),
                {"max_message_size": self.max_size},
            )
            return
        try:
            envelope = parse_envelope(text)
        except IoapError as exc:
            hub.reject(session, exc.code, exc.message, guess_id(text))
            return
        if hub.stopping and envelope.type not in _WHILE_STOPPING:
            return  # draining: not taken (no ACK, no ERROR), sent again after reconnecting
        try:
            self._check_addressing(session, envelope)
            if self.verify:
                signature, signing = _signature_parts(envelope.data)
                if self.crypto.inline:
                    valid = verify_signature(session.public_key, signing, signature)
                else:
                    valid = await self.crypto.verify(session.public_key, signing, signature)
                if not valid:
                    raise _error(ErrorCode.INVALID_SIGNATURE, "signature does not verify")
            if envelope.type == MessageType.ACK:
                self._check_fresh(envelope)
                ids = recipient_ack_ids(envelope.data["payload"])
            else:
                self._check_content(envelope)
        except IoapError as exc:
            hub.reject(session, exc.code, exc.message, envelope.id)
            return
        if envelope.type == MessageType.ACK:
            hub.received(session, ids)
            return
        try:
            fresh = await hub.backend.first_seen(envelope.sender, envelope.id, self.window)
        except BackendUnavailableError as exc:
            message = f"backend unavailable: {exc}"
            hub.reject(session, ErrorCode.INTERNAL_ERROR, message, envelope.id)
            return
        if not fresh:
            hub.reject(
                session,
                ErrorCode.REPLAY_DETECTED,
                f"id {envelope.id!r} was already seen from this sender",
                envelope.id,
            )
            return
        if envelope.recipient == self.gateway_did:
            self._for_gateway(session, envelope)
            return
        await self._route(session, envelope)

    def _check_addressing(self, session: Session, envelope: Envelope) -> None:
        """DID_MISMATCH, UNAUTHORIZED (gateway-only type) or MALFORMED_MESSAGE (bad ``to``)."""
        if envelope.sender != session.did:
            raise _error(ErrorCode.DID_MISMATCH, "from is not the DID this connection registered")
        recipient = envelope.recipient
        if envelope.type in _GATEWAY_ONLY and not (
            envelope.type == MessageType.ACK
            and session.inflight is not None
            and recipient == self.gateway_did
        ):
            raise _error(ErrorCode.UNAUTHORIZED, f"only the gateway sends {envelope.type}")
        if recipient is None:
            raise _error(ErrorCode.MALFORMED_MESSAGE, "to must name the recipient")
        if self.validate_dids and recipient != self.gateway_did and not is_valid_did(recipient):
            raise _error(ErrorCode.MALFORMED_MESSAGE, "to is not a well-formed did:key")

    def _check_content(self, envelope: Envelope) -> None:
        """CLOCK_SKEW, then MALFORMED_MESSAGE for a payload that does not fit its type."""
        self._check_fresh(envelope)
        validate_payload(_MESSAGE_TYPES[envelope.type], envelope.data["payload"])

    def _check_fresh(self, envelope: Envelope) -> None:
        """CLOCK_SKEW when the timestamp is too far from the gateway's clock."""
        sent = parse_timestamp(envelope.timestamp).timestamp()
        drift = abs(time.time() - sent)
        if drift > self.skew:
            raise _error(
                ErrorCode.CLOCK_SKEW,
                f"timestamp is {drift:.0f}s from the gateway's clock (allowed {self.skew:g}s)",
            )

    def _for_gateway(self, session: Session, envelope: Envelope) -> None:
        hub = self.hub
        kind = envelope.type
        if kind == MessageType.PING:
            sequence = envelope.data["payload"].get("sequence")
            hub.send_control(session, hub.frames.pong(envelope.sender, envelope.id, sequence))
        elif kind == MessageType.UNREGISTER:
            hub.evict(session, 1000, "unregistered")
        elif kind == MessageType.REGISTER:
            message = "this connection is already registered"
            hub.reject(session, ErrorCode.UNAUTHORIZED, message, envelope.id)
        elif kind not in (MessageType.ERROR, MessageType.PONG):
            hub.reject(
                session,
                ErrorCode.MALFORMED_MESSAGE,
                f"the gateway does not take {kind}; only PING and UNREGISTER",
                envelope.id,
            )

    async def _route(self, session: Session, envelope: Envelope) -> None:
        hub = self.hub
        recipient = envelope.recipient
        assert recipient is not None and session.did is not None
        hub.metrics.routed += 1
        item = Outgoing(envelope.text, agent=True, ack_to=session.did, ack_id=envelope.id)
        if hub.deliver(recipient, item):
            return
        try:
            owner = await hub.backend.owner(recipient)
            remote = owner.node_id if owner is not None and owner.node_id != hub.node_id else None
            acks = owner is not None and owner.extra.get("recipient_acks") is True
            if remote and acks and hub.settings.storing_enabled:
                # Held in the store until that recipient acknowledges it (ACK "queued").
                hub.store(recipient, item)
                return
            if remote and await hub.backend.send_to_node(remote, recipient, envelope.text):
                hub.metrics.delivered += 1
                hub.acknowledge(session.did, envelope.id, "delivered")
                return
        except BackendUnavailableError as exc:
            logger.warning("cluster lookup of %s failed: %s", recipient, exc)
        if hub.deliver(recipient, item):  # registered here while we looked elsewhere
            return
        hub.store(recipient, item)


def _signature_parts(data: dict[str, Any]) -> tuple[bytes, bytes]:
    """(signature, signing bytes) of a frame; INVALID_SIGNATURE / MALFORMED_MESSAGE."""
    try:
        signature = b64url_decode(data["signature"])
    except ValueError:
        raise _error(ErrorCode.INVALID_SIGNATURE, "signature is not base64url") from None
    if len(signature) != 64:
        raise _error(ErrorCode.INVALID_SIGNATURE, "an Ed25519 signature has 64 bytes")
    return signature, signing_bytes(data)


def _error(code: ErrorCode, message: str) -> IoapError:
    return error_from_code(code, message)
