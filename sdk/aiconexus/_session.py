"""Opening one registered session: WebSocket connect, verified CHALLENGE, REGISTER, REGISTERED."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from aiconexus.errors import GatewayAuthenticationError
from aiconexus.protocol import (
    SUBPROTOCOL,
    ErrorCode,
    Identity,
    IoapError,
    MalformedMessageError,
    Message,
    MessageType,
    error_from_code,
    is_valid_did,
)

__all__ = ["Session", "SessionOptions", "open_session"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOptions:
    """What every session of one client is opened with."""

    capabilities: Sequence[str]
    metadata: Mapping[str, Any]
    pinned_gateway_did: str | None
    open_timeout_s: float
    max_message_size: int
    ws_ping_interval_s: float | None
    ws_ping_timeout_s: float | None
    clock_skew_s: float
    recipient_acks: bool = True


@dataclass(frozen=True, slots=True)
class Session:
    """A registered connection to one gateway."""

    url: str
    connection: ClientConnection
    gateway_did: str
    session_id: str
    heartbeat_interval_s: float
    queued: int
    recipient_acks: bool = False
    """True when the gateway confirmed recipient acknowledgements in REGISTERED."""


async def open_session(
    url: str, identity: Identity, options: SessionOptions, logger: logging.Logger
) -> Session:
    """Connect to ``url`` and register ``identity``; the connection is closed on any failure.

    Raises OSError, TimeoutError or a websockets error when the gateway cannot be reached,
    :class:`GatewayAuthenticationError` when the CHALLENGE is not from the expected gateway, and
    the protocol error (``UnauthorizedError``, ``ClockSkewError`` ...) when REGISTER is refused.
    """
    connection = await connect(
        url,
        subprotocols=[Subprotocol(SUBPROTOCOL)],
        compression=None,
        open_timeout=options.open_timeout_s,
        ping_interval=options.ws_ping_interval_s,
        ping_timeout=options.ws_ping_timeout_s,
        max_size=options.max_message_size,
        proxy=None,
        logger=logger,
    )
    try:
        async with asyncio.timeout(options.open_timeout_s):
            return await _register(url, connection, identity, options)
    except ConnectionClosed as exc:
        await connection.close()
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from exc
    except BaseException:
        await connection.close()
        raise


async def _register(
    url: str, connection: ClientConnection, identity: Identity, options: SessionOptions
) -> Session:
    challenge = _parse(await connection.recv())
    gateway_did = challenge.from_
    if challenge.type != MessageType.CHALLENGE or challenge.to is not None:
        raise GatewayAuthenticationError(f"{url}: expected a CHALLENGE, got {challenge.type}")
    if not is_valid_did(gateway_did):
        raise GatewayAuthenticationError(f"{url}: the CHALLENGE is not from a valid did:key")
    pinned = options.pinned_gateway_did
    if pinned is not None and gateway_did != pinned:
        raise GatewayAuthenticationError(
            f"{url}: the gateway's DID is {gateway_did}, expected the pinned {pinned}"
        )
    _verify(challenge, url, options.clock_skew_s)

    register = Message.create(
        identity,
        MessageType.REGISTER,
        gateway_did,
        {
            "nonce": challenge.payload["nonce"],
            "capabilities": list(options.capabilities),
            "metadata": dict(options.metadata),
            **({"recipient_acks": True} if options.recipient_acks else {}),
        },
    )
    await connection.send(register.to_json())

    answer = _parse(await connection.recv())
    if answer.from_ != gateway_did or answer.to != identity.did:
        raise GatewayAuthenticationError(f"{url}: unexpected frame before REGISTERED")
    _verify(answer, url, options.clock_skew_s)
    if answer.type == MessageType.ERROR:
        payload = answer.payload
        raise error_from_code(payload["code"], payload["message"], payload.get("details"))
    if answer.type != MessageType.REGISTERED or answer.correlation_id != register.id:
        raise GatewayAuthenticationError(f"{url}: expected REGISTERED, got {answer.type}")
    return Session(
        url=url,
        connection=connection,
        gateway_did=gateway_did,
        session_id=str(answer.payload["session_id"]),
        heartbeat_interval_s=float(answer.payload["heartbeat_interval_s"]),
        queued=int(answer.payload["queued"]),
        recipient_acks=options.recipient_acks and answer.payload.get("recipient_acks") is True,
    )


def _refusal(closed: ConnectionClosed) -> IoapError | None:
    """The protocol error of a close whose reason reads ``"CODE: message"`` (no ERROR frame).

    The gateway closes this way when it cannot address an ERROR, e.g. 1013
    ``"CONNECTION_REFUSED: ..."`` at its connection limit.
    """
    if closed.rcvd is None:
        return None
    code, separator, message = closed.rcvd.reason.partition(": ")
    if not separator or code not in ErrorCode.__members__:
        return None
    return error_from_code(code, message)


def _parse(frame: str | bytes) -> Message:
    if not isinstance(frame, str):
        raise MalformedMessageError("the gateway sent a binary frame")
    return Message.parse(frame)


def _verify(message: Message, url: str, clock_skew_s: float) -> None:
    try:
        message.verify()
    except IoapError as exc:
        raise GatewayAuthenticationError(
            f"{url}: {message.type} failed verification: {exc}"
        ) from exc
    message.check_fresh(skew_s=clock_skew_s)
