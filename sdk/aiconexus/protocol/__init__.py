"""The IoAP v1 protocol core: envelopes, canonical bytes, did:key, signatures, error codes.

Pure and I/O-free: nothing here awaits or touches the network, so the SDK and the gateway
share one source of truth and its tests need no event loop.
"""

from .constants import (
    AGENT_TYPES,
    DEFAULT_MAX_MESSAGE_SIZE,
    GATEWAY_TYPES,
    MAX_ID_LENGTH,
    PEER_TYPES,
    PROTOCOL_VERSION,
    SUBPROTOCOL,
    ErrorCode,
    MessageType,
)
from .did import (
    b58decode,
    b58encode,
    b64url_decode,
    b64url_encode,
    did_from_public_key,
    is_valid_did,
    public_key_from_did,
    public_key_from_text,
)
from .ed25519 import verify_ed25519
from .envelope import Message
from .errors import (
    ERROR_CLASSES,
    ClockSkewError,
    ConnectionRefusedByPeerError,
    DidMismatchError,
    InternalError,
    InvalidSignatureError,
    IoapError,
    MalformedMessageError,
    MessageTooLargeError,
    NotRegisteredError,
    QueueFullError,
    RateLimitedError,
    RemoteTimeoutError,
    ReplayDetectedError,
    UnauthorizedError,
    UnknownAgentError,
    UnsupportedVersionError,
    error_from_code,
)
from .identity import Identity
from .jcs import canonicalize
from .payloads import PAYLOAD_MODELS, validate_payload
from .replay import ReplayWindow
from .timestamps import epoch_seconds, format_timestamp, parse_timestamp
from .wire import (
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    Envelope,
    check_envelope,
    check_nesting,
    loads_bounded,
    loads_frame,
    parse_envelope,
    signing_bytes,
)

__all__ = [
    "AGENT_TYPES",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "ERROR_CLASSES",
    "GATEWAY_TYPES",
    "MAX_ID_LENGTH",
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "PAYLOAD_MODELS",
    "PEER_TYPES",
    "PROTOCOL_VERSION",
    "SUBPROTOCOL",
    "ClockSkewError",
    "ConnectionRefusedByPeerError",
    "DidMismatchError",
    "Envelope",
    "ErrorCode",
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
    "RemoteTimeoutError",
    "ReplayDetectedError",
    "ReplayWindow",
    "UnauthorizedError",
    "UnknownAgentError",
    "UnsupportedVersionError",
    "b58decode",
    "b58encode",
    "b64url_decode",
    "b64url_encode",
    "canonicalize",
    "check_envelope",
    "check_nesting",
    "loads_bounded",
    "did_from_public_key",
    "epoch_seconds",
    "error_from_code",
    "format_timestamp",
    "is_valid_did",
    "loads_frame",
    "parse_envelope",
    "parse_timestamp",
    "public_key_from_did",
    "public_key_from_text",
    "signing_bytes",
    "validate_payload",
    "verify_ed25519",
]
