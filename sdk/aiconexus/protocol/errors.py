"""One exception hierarchy for the whole project, and the table that maps it to wire codes.

::

    AIConexusError                      root of every error the SDK and the gateway raise
    ├── IoapError                       has a wire code; .code, .message, .details
    │   ├── InvalidSignatureError       INVALID_SIGNATURE
    │   ├── UnknownAgentError           UNKNOWN_AGENT
    │   ├── ConnectionRefusedByPeerError  CONNECTION_REFUSED
    │   ├── RemoteTimeoutError          TIMEOUT (also a builtin TimeoutError)
    │   ├── MalformedMessageError       MALFORMED_MESSAGE
    │   ├── UnsupportedVersionError     UNSUPPORTED_VERSION
    │   ├── InternalError               INTERNAL_ERROR
    │   ├── NotRegisteredError          NOT_REGISTERED
    │   ├── DidMismatchError            DID_MISMATCH
    │   ├── ClockSkewError              CLOCK_SKEW
    │   ├── ReplayDetectedError         REPLAY_DETECTED
    │   ├── MessageTooLargeError        MESSAGE_TOO_LARGE
    │   ├── QueueFullError              QUEUE_FULL
    │   ├── RateLimitedError            RATE_LIMITED
    │   ├── UnauthorizedError           UNAUTHORIZED
    │   └── EncryptionRequiredError     ENCRYPTION_REQUIRED
    ├── HandshakeError                  the peer broke the opening handshake (no wire code)
    ├── aiconexus.errors.ClientError    the SDK runtime's own errors (tree in that module)
    └── aiconexus_gateway.errors.GatewayError  the gateway's own errors (tree in that module)

An :class:`IoapError` keeps its fields and builds its text in ``__str__`` (``"CODE: message"``);
:meth:`IoapError.to_payload` is the ERROR payload that reports it on the wire, and
:func:`error_from_code` the way back from a wire code to the class of :data:`ERROR_CLASSES`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .constants import ErrorCode

__all__ = [
    "AIConexusError",
    "ClockSkewError",
    "ConnectionRefusedByPeerError",
    "DidMismatchError",
    "ERROR_CLASSES",
    "EncryptionRequiredError",
    "HandshakeError",
    "InternalError",
    "InvalidSignatureError",
    "IoapError",
    "MalformedMessageError",
    "MessageTooLargeError",
    "NotRegisteredError",
    "QueueFullError",
    "RateLimitedError",
    "RemoteTimeoutError",
    "ReplayDetectedError",
    "UnauthorizedError",
    "UnknownAgentError",
    "UnsupportedVersionError",
    "error_from_code",
]


class AIConexusError(Exception):
    """Root of every exception the SDK and the gateway raise on purpose."""


class HandshakeError(AIConexusError):
    """The other side's frames in the opening handshake are not what IoAP requires.

    For example a first frame that is not a CHALLENGE, a CHALLENGE not signed by the pinned
    gateway, or an answer to REGISTER that is neither REGISTERED nor ERROR. No wire code: it
    is raised where the other side, not this one, broke the protocol.
    """


class IoapError(AIConexusError):
    """Root of every protocol error; carries the wire ``code``, a message and details."""

    default_code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR

    def __init__(
        self, message: str = "", *, details: Any = None, code: ErrorCode | str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.code: ErrorCode | str = code if code is not None else self.default_code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else str(self.code)

    def to_payload(self) -> dict[str, Any]:
        """The ERROR payload that reports this error on the wire."""
        payload: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.details is not None:
            payload["details"] = self.details
        return payload


class InvalidSignatureError(IoapError):
    """The signature is missing, badly encoded, or does not verify."""

    default_code = ErrorCode.INVALID_SIGNATURE


class UnknownAgentError(IoapError):
    """The recipient is not connected and the gateway does not store messages for it."""

    default_code = ErrorCode.UNKNOWN_AGENT


class ConnectionRefusedByPeerError(IoapError):
    """The gateway refused the connection (for example it is at MAX_CONNECTIONS)."""

    default_code = ErrorCode.CONNECTION_REFUSED


class RemoteTimeoutError(IoapError, TimeoutError):
    """The remote side reported a timeout."""

    default_code = ErrorCode.TIMEOUT


class MalformedMessageError(IoapError):
    """The frame is not a well-formed envelope, or its payload does not fit its type."""

    default_code = ErrorCode.MALFORMED_MESSAGE


class UnsupportedVersionError(IoapError):
    """The envelope's ``version`` is not one this side speaks."""

    default_code = ErrorCode.UNSUPPORTED_VERSION


class InternalError(IoapError):
    """The remote side failed while handling the frame."""

    default_code = ErrorCode.INTERNAL_ERROR


class NotRegisteredError(IoapError):
    """A frame other than REGISTER arrived before the session was registered."""

    default_code = ErrorCode.NOT_REGISTERED


class DidMismatchError(IoapError):
    """The frame's ``from`` is not the DID of the session that sent it."""

    default_code = ErrorCode.DID_MISMATCH


class ClockSkewError(IoapError):
    """The frame's timestamp is outside the allowed clock skew."""

    default_code = ErrorCode.CLOCK_SKEW


class ReplayDetectedError(IoapError):
    """The (from, id) pair was already seen within the replay window."""

    default_code = ErrorCode.REPLAY_DETECTED


class MessageTooLargeError(IoapError):
    """The frame is larger than the configured maximum."""

    default_code = ErrorCode.MESSAGE_TOO_LARGE


class QueueFullError(IoapError):
    """The offline store for the recipient (or in total) is full."""

    default_code = ErrorCode.QUEUE_FULL


class RateLimitedError(IoapError):
    """The sender exceeded its rate limit."""

    default_code = ErrorCode.RATE_LIMITED


class UnauthorizedError(IoapError):
    """The sender may not do this (wrong challenge nonce, wrong recipient, policy)."""

    default_code = ErrorCode.UNAUTHORIZED


class EncryptionRequiredError(IoapError):
    """The gateway takes this type to another agent only with an encrypted payload."""

    default_code = ErrorCode.ENCRYPTION_REQUIRED


ERROR_CLASSES: dict[ErrorCode, type[IoapError]] = {
    cls.default_code: cls
    for cls in (
        InvalidSignatureError,
        UnknownAgentError,
        ConnectionRefusedByPeerError,
        RemoteTimeoutError,
        MalformedMessageError,
        UnsupportedVersionError,
        InternalError,
        NotRegisteredError,
        DidMismatchError,
        ClockSkewError,
        ReplayDetectedError,
        MessageTooLargeError,
        QueueFullError,
        RateLimitedError,
        UnauthorizedError,
        EncryptionRequiredError,
    )
}
"""Wire code -> exception class; every :class:`ErrorCode` has exactly one."""


def error_from_code(code: str, message: str = "", details: Any = None) -> IoapError:
    """Build the exception for a wire ``code``; an unknown code gives a plain IoapError."""
    try:
        cls = ERROR_CLASSES[ErrorCode(code)]
    except ValueError:
        return IoapError(message, details=details, code=code)
    return cls(message, details=details)
