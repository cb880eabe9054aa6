"""WebSocket close codes of IoAP and the ``"CODE: message"`` close reason, both ways.

The gateway closes a connection with one of :class:`CloseCode`'s codes (PROTOCOL.md 9.2).
When it refuses a peer it cannot address an ERROR frame to (no DID known yet), the error's
wire code starts the close reason: :func:`close_reason` writes it, cut to the 123 bytes a
close frame's reason may take (RFC 6455: 125 bytes of payload minus the 2-byte code), and
:func:`parse_close_reason` / :func:`error_from_close` read it back. Pure: no I/O.

>>> close_reason(ErrorCode.TIMEOUT, "no REGISTER within 10s")
'TIMEOUT: no REGISTER within 10s'
>>> parse_close_reason("TIMEOUT: no REGISTER within 10s")
(<ErrorCode.TIMEOUT: 'TIMEOUT'>, 'no REGISTER within 10s')
"""

from __future__ import annotations

from enum import IntEnum

from .constants import ErrorCode
from .errors import IoapError, error_from_code

__all__ = [
    "MAX_CLOSE_REASON",
    "CloseCode",
    "close_reason",
    "error_from_close",
    "fit_close_reason",
    "parse_close_reason",
]

MAX_CLOSE_REASON = 123
"""Bytes of UTF-8 a WebSocket close reason may take (RFC 6455: 125-byte payload minus the code)."""

_SEPARATOR = ": "


class CloseCode(IntEnum):
    """Every close code IoAP uses (names as in RFC 6455 and the ``websockets`` library)."""

    NORMAL_CLOSURE = 1000
    """``unregistered``: the agent sent UNREGISTER."""
    GOING_AWAY = 1001
    """``shutdown``: the gateway stops, after its drain (single process)."""
    ABNORMAL_CLOSURE = 1006
    """Never sent: what a peer sees when the connection ends without a close frame."""
    INVALID_DATA = 1007
    """``invalid UTF-8``: a text frame that is not valid UTF-8."""
    POLICY_VIOLATION = 1008
    """``CODE: message``: the handshake failed, or too many refused frames in a row; also a
    WebSocket on a path other than ``/ws`` (refused before it is accepted)."""
    MESSAGE_TOO_BIG = 1009
    """A frame over 4 x MAX_MESSAGE_SIZE, refused by the WebSocket layer."""
    INTERNAL_ERROR = 1011
    """``keepalive ping timeout``: the peer did not answer WebSocket pings in time."""
    SERVICE_RESTART = 1012
    """The gateway restarts or stops (multi-process deployment)."""
    TRY_AGAIN_LATER = 1013
    """``slow consumer``, or ``CONNECTION_REFUSED: ...`` (at a connection limit, stopping)."""
    REPLACED = 4000
    """``replaced``: a newer session of the same DID took over (do not reconnect)."""


def fit_close_reason(text: str) -> str:
    """``text`` cut to :data:`MAX_CLOSE_REASON` bytes of UTF-8, whole characters only."""
    encoded = text.encode("utf-8", "replace")  # a lone surrogate becomes "?"
    return encoded[:MAX_CLOSE_REASON].decode("utf-8", "ignore")


def close_reason(code: IoapError | ErrorCode | str, message: str | None = None) -> str:
    """``"CODE: message"`` fitted to a close frame; ``code`` may be the error itself.

    With an :class:`IoapError`, its code and (unless ``message`` is given) its message.
    """
    if isinstance(code, IoapError):
        text = code.message if message is None else message
        return fit_close_reason(f"{code.code}{_SEPARATOR}{text}")
    return fit_close_reason(f"{code}{_SEPARATOR}{message or ''}")


def parse_close_reason(reason: str) -> tuple[ErrorCode, str] | None:
    """``(code, message)`` of a reason written by :func:`close_reason`; None for any other.

    A reason counts only when it starts with a known error code and ``": "`` (``replaced``,
    ``slow consumer`` and the like are plain reasons).
    """
    code, separator, message = reason.partition(_SEPARATOR)
    if not separator or code not in ErrorCode.__members__:
        return None
    return ErrorCode(code), message


def error_from_close(reason: str) -> IoapError | None:
    """The protocol error a ``"CODE: message"`` close reason reports; None for any other."""
    parsed = parse_close_reason(reason)
    if parsed is None:
        return None
    return error_from_code(*parsed)
