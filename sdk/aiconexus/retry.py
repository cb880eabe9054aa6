"""When the client tries again: the retry policy, one small replaceable function.

:class:`~aiconexus.GatewayClient` asks its retry policy two questions, both with an
exception: after a session ended ("reconnect after this?") and after an attempt to open a
session failed ("try the next URL, or again after a pause?"). The policy returns True to go
on (with backoff) or False to stop: the client then closes, and ``wait_closed()`` returns the
exception (a failed first ``connect()`` raises it). A close the gateway sent arrives as a
websockets ``ConnectionClosed`` whose close code :func:`close_code` reads (compare it with
:class:`~aiconexus.protocol.CloseCode`); :attr:`~aiconexus.protocol.CloseCode.REPLACED`
(4000: another connection registered this DID) arrives as
:class:`~aiconexus.SessionReplacedError`, whose cause is that close.

Pass your own policy as ``GatewayClient(url, me, retry_policy=...)``; the default is
:func:`default_retry_policy`. For example, to keep trying also after the gateway refused the
registration as unauthorized (say, while the key is being enrolled)::

    from aiconexus import UnauthorizedError, default_retry_policy

    def patient(error: BaseException) -> bool:
        return isinstance(error, UnauthorizedError) or default_retry_policy(error)

``reconnect=False`` still turns reconnection off whatever the policy says.
"""

from __future__ import annotations

from typing import Protocol

from websockets.exceptions import ConnectionClosed, WebSocketException

from aiconexus.errors import ClientError, SessionReplacedError
from aiconexus.protocol import ErrorCode, IoapError

__all__ = ["RETRYABLE_CODES", "RetryPolicy", "close_code", "default_retry_policy"]

RETRYABLE_CODES = frozenset(
    {
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.RATE_LIMITED,
        ErrorCode.TIMEOUT,
        ErrorCode.CONNECTION_REFUSED,
    }
)
"""Codes of a refused REGISTER that are worth another try later."""


class RetryPolicy(Protocol):
    """Decides from an exception whether connecting again may help (see :mod:`aiconexus.retry`).

    Any function ``(error: BaseException) -> bool`` is one.
    """

    def __call__(self, error: BaseException, /) -> bool:
        """True to connect again (after the backoff delay), False to close the client."""
        ...


def default_retry_policy(error: BaseException) -> bool:
    """Network trouble: yes; a refusal that retrying cannot mend: no.

    Retried: ``OSError`` and ``TimeoutError`` (the gateway cannot be reached or stopped
    answering), websockets errors (among them every ``ConnectionClosed``, whatever its close
    code), other SDK runtime errors, and a REGISTER refused with one of
    :data:`RETRYABLE_CODES`. Not retried: :class:`~aiconexus.SessionReplacedError` (close
    ``REPLACED``: two processes with one key would take the session from each other forever),
    any other protocol error (``UnauthorizedError``, ``ClockSkewError`` ...), anything else.
    """
    if isinstance(error, IoapError):
        return error.code in RETRYABLE_CODES
    if isinstance(error, SessionReplacedError):
        return False
    return isinstance(error, OSError | TimeoutError | WebSocketException | ClientError)


def close_code(error: BaseException) -> int | None:
    """The close code the gateway sent, if ``error`` (or what caused it) is a close; else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionClosed):
            return current.rcvd.code if current.rcvd is not None else None
        current = current.__cause__
    return None
