"""Protocol constants and the enumerations of message types and error codes."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AGENT_TYPES",
    "DEFAULT_CLOCK_SKEW_S",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "GATEWAY_TYPES",
    "MAX_CAPABILITIES",
    "MAX_ID_LENGTH",
    "PEER_TYPES",
    "PROTOCOL_VERSION",
    "SUBPROTOCOL",
    "ErrorCode",
    "MessageType",
]

PROTOCOL_VERSION = "1.0"
"""The value of every envelope's ``version`` field."""

SUBPROTOCOL = "ioap.v1"
"""The WebSocket subprotocol a client offers and the gateway selects."""

DEFAULT_MAX_MESSAGE_SIZE = 256 * 1024
"""Default largest text frame, in bytes of UTF-8."""

MAX_ID_LENGTH = 128
"""Longest allowed message ``id``."""

MAX_CAPABILITIES = 64
"""Most entries a REGISTER's ``capabilities`` may hold (PROTOCOL.md 6.1); a gateway may lower it."""

DEFAULT_CLOCK_SKEW_S = 300.0
"""Default largest distance between a frame's timestamp and the receiver's clock, in seconds."""


class MessageType(StrEnum):
    """Every envelope ``type``: eleven agent types and three gateway control types."""

    REGISTER = "REGISTER"
    UNREGISTER = "UNREGISTER"
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    ICE_CANDIDATE = "ICE_CANDIDATE"
    INTENT = "INTENT"
    EXEC_REQUEST = "EXEC_REQUEST"
    EXEC_RESPONSE = "EXEC_RESPONSE"
    ERROR = "ERROR"
    PING = "PING"
    PONG = "PONG"
    CHALLENGE = "CHALLENGE"
    REGISTERED = "REGISTERED"
    ACK = "ACK"


AGENT_TYPES: frozenset[MessageType] = frozenset(
    {
        MessageType.REGISTER,
        MessageType.UNREGISTER,
        MessageType.OFFER,
        MessageType.ANSWER,
        MessageType.ICE_CANDIDATE,
        MessageType.INTENT,
        MessageType.EXEC_REQUEST,
        MessageType.EXEC_RESPONSE,
        MessageType.ERROR,
        MessageType.PING,
        MessageType.PONG,
    }
)
"""The eleven types an agent may send."""

PEER_TYPES: frozenset[MessageType] = AGENT_TYPES - {MessageType.REGISTER, MessageType.UNREGISTER}
"""The nine types one agent sends to another through the gateway."""

GATEWAY_TYPES: frozenset[MessageType] = frozenset(
    {MessageType.CHALLENGE, MessageType.REGISTERED, MessageType.ACK}
)
"""The control types only the gateway sends."""


class ErrorCode(StrEnum):
    """The ``code`` of an ERROR payload."""

    INVALID_SIGNATURE = "INVALID_SIGNATURE"
    UNKNOWN_AGENT = "UNKNOWN_AGENT"
    CONNECTION_REFUSED = "CONNECTION_REFUSED"
    TIMEOUT = "TIMEOUT"
    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    NOT_REGISTERED = "NOT_REGISTERED"
    DID_MISMATCH = "DID_MISMATCH"
    CLOCK_SKEW = "CLOCK_SKEW"
    REPLAY_DETECTED = "REPLAY_DETECTED"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    QUEUE_FULL = "QUEUE_FULL"
    RATE_LIMITED = "RATE_LIMITED"
    UNAUTHORIZED = "UNAUTHORIZED"
    ENCRYPTION_REQUIRED = "ENCRYPTION_REQUIRED"
