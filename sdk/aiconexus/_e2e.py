"""End-to-end encrypted payloads on the client side (PROTOCOL.md 8.10).

Two decisions, kept out of the connection code:

* sending: whether a frame is sealed (:func:`wants_encryption`): the caller's explicit
  choice, else the client-wide default for the types that may be encrypted; sealing itself
  happens in :meth:`Message.create` (seal, then sign);
* receiving: :func:`open_received` turns a verified, de-duplicated frame from another agent
  into the message user code sees: the payload decrypted and checked against its type's
  schema, ``encrypted`` True; a frame that does not open is dropped with a warning.

The identity's key-agreement secret never leaves :class:`~aiconexus.Identity`.
"""

from __future__ import annotations

import logging

from aiconexus.protocol import SEALABLE_TYPES, Identity, IoapError, Message, MessageType

__all__ = ["open_received", "wants_encryption"]


def wants_encryption(message_type: MessageType, explicit: bool | None, default: bool) -> bool:
    """Seal a frame of ``message_type``? ``explicit`` decides; else ``default`` if it may be.

    An explicit True for a type that is never encrypted raises ValueError.
    """
    if explicit is None:
        return default and message_type in SEALABLE_TYPES
    if explicit and message_type not in SEALABLE_TYPES:
        raise ValueError(f"{message_type} frames cannot be encrypted (peer types only)")
    return explicit


def open_received(message: Message, identity: Identity, logger: logging.Logger) -> Message | None:
    """``message`` with its payload decrypted, itself when plain, None (logged) if unusable."""
    if not message.encrypted:
        return message
    try:
        return message.decrypt(identity)
    except IoapError as exc:
        logger.warning(
            "dropped encrypted %s %s from %s: %s", message.type, message.id, message.from_, exc
        )
        return None
