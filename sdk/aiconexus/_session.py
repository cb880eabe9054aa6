"""Opening one registered session: WebSocket connect, then the handshake of the protocol core.

The checks of CHALLENGE, REGISTER and REGISTERED are :class:`aiconexus.protocol.ClientHandshake`'s;
this module only carries its frames over the WebSocket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from aiconexus.errors import GatewayAuthenticationError
from aiconexus.protocol import (
    SUBPROTOCOL,
    AgentCardSpec,
    ClientHandshake,
    HandshakeError,
    Identity,
    IoapError,
    error_from_close,
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
    agent_card: AgentCardSpec | None = None
    capability_info: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


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
    """Drive the protocol core's :class:`ClientHandshake` over ``connection``."""
    handshake = ClientHandshake(
        identity,
        capabilities=options.capabilities,
        metadata=options.metadata,
        capability_info=options.capability_info,
        recipient_acks=options.recipient_acks,
        gateway_did=options.pinned_gateway_did,
        clock_skew_s=options.clock_skew_s,
        agent_card=options.agent_card,
    )
    try:
        register = handshake.receive_challenge(await connection.recv())
        await connection.send(register.to_json())
        granted = handshake.receive_reply(await connection.recv())
    except HandshakeError as exc:
        raise GatewayAuthenticationError(f"{url}: {exc}") from exc
    return Session(
        url=url,
        connection=connection,
        gateway_did=granted.gateway_did,
        session_id=granted.session_id,
        heartbeat_interval_s=granted.heartbeat_interval_s,
        queued=granted.queued,
        recipient_acks=granted.recipient_acks,
    )


def _refusal(closed: ConnectionClosed) -> IoapError | None:
    """The protocol error of a close whose reason reads ``"CODE: message"`` (no ERROR frame).

    The gateway closes this way when it cannot address an ERROR, e.g. 1013
    ``"CONNECTION_REFUSED: ..."`` at its connection limit.
    """
    if closed.rcvd is None:
        return None
    return error_from_close(closed.rcvd.reason)
