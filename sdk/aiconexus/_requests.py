"""Asking another agent and awaiting its answer: the round trip of ``request()`` and ``ping(to)``.

The frame asking is sent like any other (it stays in the outbox until the gateway's ACK);
its answer is the frame from the asked agent whose ``correlation_id`` is the asking frame's
id, of one of the expected types (:class:`~aiconexus._pending.ReplyWaiters`). One timeout
covers both; when it expires after the gateway queued the frame for an agent that is not
connected, :class:`~aiconexus.RecipientOfflineTimeout` says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from aiconexus._dispatch import error_of
from aiconexus._pending import DeliveryStatus, ReplyWaiters
from aiconexus.errors import RecipientOfflineError, RecipientOfflineTimeout, RemoteExecutionError
from aiconexus.protocol import Message, MessageType

__all__ = ["ANSWER_TYPES", "OfflinePolicy", "exec_response", "round_trip"]

OfflinePolicy = Literal["wait", "fail"]
"""What ``request()`` does when the gateway queues it for a recipient that is not connected."""

ANSWER_TYPES = {
    MessageType.EXEC_REQUEST: frozenset({MessageType.EXEC_RESPONSE, MessageType.ERROR}),
    MessageType.PING: frozenset({MessageType.PONG, MessageType.ERROR}),
}
"""The types that answer a frame asking another agent, by the asking frame's type."""


async def round_trip(
    send: Callable[[Message], Awaitable[DeliveryStatus]],
    replies: ReplyWaiters,
    message: Message,
    timeout: float,
    if_offline: OfflinePolicy = "wait",
) -> Message:
    """Send ``message`` with ``send`` and return its answer (see :data:`ANSWER_TYPES`).

    Raises ValueError for an ``if_offline`` not ``"wait"`` or ``"fail"``,
    :class:`~aiconexus.RecipientOfflineError` at the ACK ``queued`` with
    ``if_offline="fail"``, and after ``timeout`` seconds ``TimeoutError``
    (:class:`~aiconexus.RecipientOfflineTimeout` when the frame was queued).
    """
    if if_offline not in ("wait", "fail"):
        raise ValueError(f"if_offline must be 'wait' or 'fail', not {if_offline!r}")
    assert message.to is not None
    reply = replies.expect(message.id, message.to, ANSWER_TYPES[MessageType(message.type)])
    status: DeliveryStatus | None = None
    try:
        async with asyncio.timeout(timeout) as scope:
            status = await send(message)
            if status == "queued" and if_offline == "fail":
                raise RecipientOfflineError(message)
            return await reply
    except TimeoutError:
        if not scope.expired():
            raise
        if status == "queued":
            raise RecipientOfflineTimeout(message, timeout) from None
        raise TimeoutError(
            f"no answer to {message.type} {message.id} from {message.to} in {timeout:g}s"
        ) from None
    finally:
        replies.cancel(message.id)


def exec_response(answer: Message) -> Message:
    """The answer to an EXEC_REQUEST if it reports success; else raise what it reports.

    An ERROR in its place raises its protocol error, an EXEC_RESPONSE with status ``error``
    :class:`~aiconexus.RemoteExecutionError`.
    """
    if answer.type == MessageType.ERROR:
        raise error_of(answer)
    if answer.payload["status"] == "error":
        raise RemoteExecutionError(answer.payload.get("error"), answer)
    return answer
