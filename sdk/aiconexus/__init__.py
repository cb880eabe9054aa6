"""AIConexus SDK: agents that find each other and talk securely over IoAP.

>>> from aiconexus import Identity, GatewayClient, Agent, Message

:class:`GatewayClient` is the connection (send, request, receive, reconnect without loss);
:class:`Agent` adds handlers per message type; everything from the protocol core
(:class:`Identity`, :class:`Message`, :class:`MessageType`, the error classes) is re-exported.
"""

from aiconexus._pending import DeliveryStatus
from aiconexus.agent import Agent, Handler
from aiconexus.backoff import Backoff
from aiconexus.client import SENDABLE_TYPES, GatewayClient
from aiconexus.directory import AgentInfo, http_base_url, list_agents
from aiconexus.errors import (
    AIConexusError,
    ClientClosedError,
    ClientError,
    GatewayAuthenticationError,
    GatewayUnreachableError,
    HandshakeError,
    RecipientOfflineError,
    RecipientOfflineTimeout,
    RemoteExecutionError,
    SessionReplacedError,
)
from aiconexus.protocol import (
    AGENT_TYPES,
    DEFAULT_MAX_MESSAGE_SIZE,
    ERROR_CLASSES,
    GATEWAY_TYPES,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    ClockSkewError,
    ConnectionRefusedByPeerError,
    DidMismatchError,
    ErrorCode,
    Identity,
    InternalError,
    InvalidSignatureError,
    IoapError,
    MalformedMessageError,
    Message,
    MessageTooLargeError,
    MessageType,
    NotRegisteredError,
    QueueFullError,
    RateLimitedError,
    RemoteTimeoutError,
    ReplayDetectedError,
    UnauthorizedError,
    UnknownAgentError,
    UnsupportedVersionError,
    canonicalize,
    did_from_public_key,
    error_from_code,
    format_timestamp,
    is_valid_did,
    parse_timestamp,
    public_key_from_did,
    validate_payload,
)
from aiconexus.retry import RetryPolicy, default_retry_policy
from aiconexus.state import ConnectionState, StateListener

__version__ = "0.1.0"

__all__ = [
    "AGENT_TYPES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ERROR_CLASSES",
    "GATEWAY_TYPES",
    "PROTOCOL_VERSION",
    "SENDABLE_TYPES",
    "SUBPROTOCOL",
    "AIConexusError",
    "Agent",
    "AgentInfo",
    "Backoff",
    "ClientClosedError",
    "ClientError",
    "ClockSkewError",
    "ConnectionRefusedByPeerError",
    "ConnectionState",
    "DeliveryStatus",
    "DidMismatchError",
    "ErrorCode",
    "GatewayAuthenticationError",
    "GatewayClient",
    "GatewayUnreachableError",
    "HandshakeError",
    "Handler",
    "Identity",
    "InternalError",
    "InvalidSignatureError",
    "IoapError",
    "MalformedMessageError",
    "Message",
    "MessageTooLargeError",
    "MessageType",
    "NotRegisteredError",
    "QueueFullError",
    "RateLimitedError",
    "RecipientOfflineError",
    "RecipientOfflineTimeout",
    "RemoteExecutionError",
    "RemoteTimeoutError",
    "ReplayDetectedError",
    "RetryPolicy",
    "SessionReplacedError",
    "StateListener",
    "UnauthorizedError",
    "UnknownAgentError",
    "UnsupportedVersionError",
    "__version__",
    "canonicalize",
    "default_retry_policy",
    "did_from_public_key",
    "error_from_code",
    "format_timestamp",
    "http_base_url",
    "is_valid_did",
    "list_agents",
    "parse_timestamp",
    "public_key_from_did",
    "validate_payload",
]
