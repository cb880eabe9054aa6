"""One WebSocket connection, from accept to close: CHALLENGE, REGISTER checks, then frames.

This module speaks plain ASGI (``receive``/``send`` message dicts) and knows nothing of the
web framework in front of it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from aiconexus.protocol import (
    ErrorCode,
    IoapError,
    Message,
    MessageType,
    b64url_encode,
    error_from_code,
    is_valid_did,
    parse_envelope,
    public_key_from_did,
    public_key_from_text,
)

from .backend.base import BackendUnavailableError
from .hub import Hub
from .router import Router, guess_id, utf8_length_over
from .session import ASGISend, Session
from .ws_protocol import SEND_BATCH

__all__ = ["ASGIReceive", "CLOSE_POLICY", "close_reason", "serve_connection"]

ASGIReceive = Callable[[], Awaitable[MutableMapping[str, Any]]]
"""The ASGI ``receive`` callable of one connection."""

logger = logging.getLogger("aiconexus.gateway")

CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013
MAX_CLOSE_REASON = 123
"""Bytes a WebSocket close reason may take (RFC 6455: 125-byte payload minus the code)."""


def close_reason(code: ErrorCode | str, message: str) -> str:
    """``"CODE: message"`` cut to fit a close frame's reason (whole UTF-8 characters only)."""
    reason = f"{code}: {message}".encode()[:MAX_CLOSE_REASON]
    return reason.decode("utf-8", "ignore")


def guess_sender(text: str) -> str | None:
    """The string ``from`` of a refused first frame, if it can be read (the ERROR's ``to``)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        sender = data.get("from")
        if isinstance(sender, str) and sender:
            return sender
    return None


async def serve_connection(
    hub: Hub, router: Router, scope: MutableMapping[str, Any], receive: ASGIReceive, send: ASGISend
) -> None:
    """Run one ``/ws`` connection to its end."""
    event = await receive()
    if event["type"] != "websocket.connect":
        return
    subprotocol = hub.settings.gateway_subprotocol
    offered = scope.get("subprotocols") or []
    await send(
        {"type": "websocket.accept", "subprotocol": subprotocol if subprotocol in offered else None}
    )
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "unknown"
    session = Session(
        send,
        session_id=uuid.uuid4().hex,
        limit=hub.settings.send_queue_size,
        peer=peer,
        on_written=hub.on_written,
        batch_type=SEND_BATCH if SEND_BATCH in (scope.get("extensions") or {}) else None,
        close_timeout=hub.settings.close_timeout,
    )
    if hub.connections >= hub.settings.max_connections or hub.stopping:
        hub.metrics.rejected[ErrorCode.CONNECTION_REFUSED.value] += 1
        logger.info("refused peer=%s (at MAX_CONNECTIONS or stopping)", peer)
        why = "gateway is stopping" if hub.stopping else "gateway is at MAX_CONNECTIONS"
        reason = close_reason(ErrorCode.CONNECTION_REFUSED, why)
        await send({"type": "websocket.close", "code": CLOSE_TRY_LATER, "reason": reason})
        return
    hub.connections += 1
    hub.metrics.connections_total += 1
    logger.info("connect peer=%s session=%s", peer, session.session_id)
    try:
        if await _handshake(hub, session, receive, send):
            await _read_frames(hub, router, session, receive)
    except asyncio.CancelledError:
        if not session.closed:
            raise  # a cancellation we did not ask for
    finally:
        hub.connections -= 1
        was_registered = session.did is not None
        reason = session.close_reason
        hub.end(session)
        if was_registered:
            event_name = "unregistered" if reason == "unregistered" else "disconnected"
            logger.info(
                "%s did=%s session=%s reason=%s",
                event_name,
                session.did,
                session.session_id,
                reason,
            )
        else:
            logger.info("disconnected peer=%s session=%s unregistered", peer, session.session_id)


async def _handshake(hub: Hub, session: Session, receive: ASGIReceive, send: ASGISend) -> bool:
    """CHALLENGE, then one REGISTER checked in full; True when the session is registered."""
    nonce = b64url_encode(secrets.token_bytes(32))
    await session.send_now(hub.frames.challenge(nonce))
    try:
        async with asyncio.timeout(hub.settings.connection_timeout):
            event = await receive()
    except TimeoutError:
        waited = f"no REGISTER within {hub.settings.connection_timeout:g}s"
        await _refuse(hub, session, send, error_from_code(ErrorCode.TIMEOUT, waited))
        return False
    if event["type"] != "websocket.receive":
        return False
    text = event.get("text")
    if text is None:
        error = error_from_code(ErrorCode.MALFORMED_MESSAGE, "binary frames are not allowed")
        await _refuse(hub, session, send, error)
        return False
    try:
        message = _check_register(hub, text, nonce)
    except IoapError as exc:
        await _refuse(hub, session, send, exc, guess_id(text), guess_sender(text))
        return False
    payload = message.payload
    session.did = message.from_
    session.capabilities = tuple(payload.get("capabilities") or ())
    session.metadata = dict(payload.get("metadata") or {})
    session.recipient_acks = payload.get("recipient_acks") is True
    session.public_key = public_key_from_did(message.from_)
    try:
        await hub.register(session, message.id)
    except BackendUnavailableError as exc:
        error = error_from_code(ErrorCode.INTERNAL_ERROR, f"backend unavailable: {exc}")
        await _refuse(hub, session, send, error, message.id, message.from_)
        return False
    return True


def _check_register(hub: Hub, text: str, nonce: str) -> Message:
    """Validate a REGISTER frame; raises the IoapError to answer with."""
    if utf8_length_over(text, hub.settings.max_message_size):
        raise error_from_code(ErrorCode.MESSAGE_TOO_LARGE, "REGISTER is too large")
    envelope = parse_envelope(text)
    if envelope.type != MessageType.REGISTER:
        raise error_from_code(ErrorCode.NOT_REGISTERED, "the first frame must be REGISTER")
    if not is_valid_did(envelope.sender):
        raise error_from_code(ErrorCode.MALFORMED_MESSAGE, "from is not an Ed25519 did:key")
    message = Message.from_dict(envelope.data)
    message.verify()
    claimed_key = message.payload.get("public_key")
    if claimed_key is not None:
        try:
            key = public_key_from_text(claimed_key)
        except ValueError as exc:
            raise error_from_code(ErrorCode.MALFORMED_MESSAGE, f"public_key: {exc}") from None
        if key != public_key_from_did(message.from_):
            raise error_from_code(ErrorCode.DID_MISMATCH, "public_key does not match the DID")
    if message.to != hub.did:
        raise error_from_code(ErrorCode.UNAUTHORIZED, "REGISTER must be addressed to the gateway")
    if message.payload.get("nonce") != nonce:
        raise error_from_code(ErrorCode.UNAUTHORIZED, "nonce does not match the CHALLENGE")
    message.check_fresh(skew_s=hub.settings.clock_skew)
    return message


async def _refuse(
    hub: Hub,
    session: Session,
    send: ASGISend,
    error: IoapError,
    correlation_id: str | None = None,
    sender: str | None = None,
) -> None:
    """The handshake failed: ERROR to ``sender`` (when known), then close 1008.

    ``to`` is null only on CHALLENGE, so without a sender DID there is no ERROR frame; the
    close reason always carries ``"CODE: message"``.
    """
    hub.metrics.rejected[str(error.code)] += 1
    logger.info("refused session=%s peer=%s code=%s", session.session_id, session.peer, error.code)
    try:
        reason = close_reason(error.code, error.message)
        if sender is not None:
            await session.send_now(
                hub.frames.error(sender, error.code, error.message, correlation_id)
            )
        await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": reason})
    except Exception as exc:  # the peer is already gone
        logger.debug("could not refuse %s: %r", session.session_id, exc)


async def _read_frames(hub: Hub, router: Router, session: Session, receive: ASGIReceive) -> None:
    """Handle frames until the peer disconnects or the hub closes the session."""
    handle = router.handle
    limit = hub.settings.send_queue_size
    while not session.closed:
        if session.pending >= limit:
            await session.drained()
        session.receiving = True
        event = await receive()
        session.receiving = False
        if event["type"] != "websocket.receive":
            return
        text = event.get("text")
        if text is None:
            hub.reject(session, ErrorCode.MALFORMED_MESSAGE, "binary frames are not allowed", None)
            continue
        await handle(session, text)
    await session.closed_sent()
