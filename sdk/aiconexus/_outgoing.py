"""The frames user code sends to other agents: which types, to whom, built and signed how.

``send()``, ``reply()``, ``request()`` and ``ping(to)`` build their frames with
:func:`peer_frame`: sealed for the recipient when asked (PROTOCOL.md 8.10; whether is
:func:`~aiconexus._e2e.wants_encryption`'s decision), then signed. What user code names is
checked first (:func:`check_recipient`: a type it may send, an Ed25519 did:key); a frame
signed elsewhere goes through :func:`check_sendable` before the connection takes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiconexus._e2e import wants_encryption
from aiconexus.protocol import PEER_TYPES, Identity, Message, MessageType, is_valid_did

__all__ = ["SENDABLE_TYPES", "check_recipient", "check_sendable", "peer_frame"]

SENDABLE_TYPES = PEER_TYPES
"""Types user code may send to another agent (the client itself handles the others)."""


def check_recipient(type: MessageType, to: str) -> None:
    """Raise ValueError for a type the client sends itself or a ``to`` that is no did:key."""
    if type not in SENDABLE_TYPES:
        raise ValueError(f"{type} frames are sent by the client itself, not by send()")
    if not is_valid_did(to):
        raise ValueError(f"recipient is not an Ed25519 did:key: {to!r}")


def peer_frame(
    identity: Identity,
    to: str,
    type: MessageType,
    payload: Mapping[str, Any],
    correlation_id: str | None = None,
    *,
    encrypt: bool | None,
    by_default: bool,
) -> Message:
    """A frame of ``identity`` to agent ``to``, sealed when ``encrypt`` says (else by default).

    Raises ValueError for ``encrypt=True`` and a type that is never encrypted.
    """
    sealed = wants_encryption(type, encrypt, by_default)
    return Message.create(
        identity, type, to, dict(payload), correlation_id=correlation_id, encrypt=sealed
    )


def check_sendable(message: Message, did: str) -> None:
    """Raise ValueError unless ``message`` is signed by ``did`` and of a type user code sends."""
    if message.from_ != did:
        raise ValueError("the message is not signed by this client's identity")
    if message.type not in SENDABLE_TYPES:
        raise ValueError(f"{message.type} frames are sent by the client itself")
