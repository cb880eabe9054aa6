"""Errors raised by the SDK runtime itself (as opposed to errors reported on the wire).

::

    AIConexusError                    root of all the SDK raises (aiconexus.protocol.errors)
    ├── IoapError ...                 an ERROR frame's code (tree in that module)
    ├── HandshakeError                the gateway broke the opening handshake
    │   └── GatewayAuthenticationError  (also a ClientError, below)
    └── ClientError                   root of the SDK runtime errors
        ├── ClientClosedError         the client is closed (or was never opened)
        │   └── SessionReplacedError  another connection registered the same DID
        ├── GatewayUnreachableError   no gateway URL could be reached (also a ConnectionError)
        ├── GatewayAuthenticationError  a gateway frame failed verification (wrong key/DID)
        ├── RemoteExecutionError      an EXEC_RESPONSE came back with status "error"
        └── RecipientOfflineError     the gateway queued a request: the recipient is offline
            └── RecipientOfflineTimeout  queued, and no answer in time (also a TimeoutError)

Errors the gateway or a peer report with an ERROR frame are raised as the protocol core's
:class:`~aiconexus.protocol.IoapError` subclasses (``UnknownAgentError``, ``QueueFullError`` ...);
``except AIConexusError`` catches both kinds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiconexus.protocol import AIConexusError, HandshakeError, Message

__all__ = [
    "AIConexusError",
    "ClientClosedError",
    "ClientError",
    "GatewayAuthenticationError",
    "GatewayUnreachableError",
    "HandshakeError",
    "RecipientOfflineError",
    "RecipientOfflineTimeout",
    "RemoteExecutionError",
    "SessionReplacedError",
]


class ClientError(AIConexusError):
    """Root of the errors raised by the SDK runtime."""


class ClientClosedError(ClientError):
    """The operation needs an open client, and this one is closed (or was never opened)."""


class SessionReplacedError(ClientClosedError):
    """Another connection registered the same DID, so the gateway closed this one (code 4000).

    The client does not reconnect in this case: two processes sharing one identity would
    otherwise take the session from each other forever.
    """


class GatewayUnreachableError(ClientError, ConnectionError):
    """No gateway URL could be reached; ``failures`` holds ``(url, error)`` per attempt."""

    def __init__(self, failures: Sequence[tuple[str, BaseException]]) -> None:
        self.failures = list(failures)
        detail = "; ".join(f"{url}: {_describe(exc)}" for url, exc in self.failures)
        super().__init__(f"cannot reach the gateway ({detail or 'no URL given'})")


class GatewayAuthenticationError(ClientError, HandshakeError):
    """A frame claiming to come from the gateway failed verification.

    Raised when the CHALLENGE is not signed by the pinned ``gateway_did`` (or not validly
    signed at all): the peer is not the gateway you meant to talk to. It is the protocol
    core's :class:`~aiconexus.protocol.HandshakeError` with the gateway's URL in its text.
    """


class RemoteExecutionError(ClientError):
    """The peer answered an EXEC_REQUEST with an EXEC_RESPONSE whose status is ``error``.

    ``error`` is the peer's ``error`` field as sent; ``response`` is the whole message.
    """

    def __init__(self, error: Any, response: Message) -> None:
        self.error = error
        self.response = response
        text = error if isinstance(error, str) else json.dumps(error, sort_keys=True)
        super().__init__(f"remote execution failed: {text}")


class RecipientOfflineError(ClientError):
    """The gateway answered a request's ACK with ``queued``: the recipient is not connected.

    Raised by ``request(..., if_offline="fail")`` as soon as that ACK arrives. The gateway
    keeps the frame in its offline store, so the recipient may still execute it when it
    connects; its late answer then arrives through ``recv()``. ``request`` is the frame sent.
    """

    def __init__(self, request: Message, detail: str = "") -> None:
        self.request = request
        self.recipient = request.to
        text = f"{request.to} is not connected; the gateway queued {request.type} {request.id}"
        super().__init__(f"{text}{detail}")


class RecipientOfflineTimeout(RecipientOfflineError, TimeoutError):
    """No answer in time to a request the gateway had queued for a recipient not connected.

    A plain ``TimeoutError`` means the recipient was connected (``delivered``) but did not
    answer; this subclass means it never came online to see the request.
    """

    def __init__(self, request: Message, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(request, f" and it did not connect and answer within {timeout:g}s")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
