"""End-to-end encrypted payloads on the client side (PROTOCOL.md 8.10).

Two decisions, kept out of the connection code:

* sending: whether a frame is sealed (:func:`wants_encryption`): the caller's explicit
  choice, else the client-wide default for the types that may be encrypted; sealing itself
  happens in :meth:`Message.create` (seal, then sign);
* receiving: :func:`open_received` turns a verified, de-duplicated frame from another agent
  into the message user code sees: the payload decrypted and checked against its type's
  schema, ``encrypted`` True; or says why a frame that does not open must be dropped.

The identity's key-agreement secret never leaves :class:`~aiconexus.Identity`.
"""

from __future__ import annotations

from aiconexus.protocol import SEALABLE_TYPES, IoapError, Message, MessageType
from aiconexus.protocol.sealed import KeyAgreement

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


def open_received(message: Message, identity: KeyAgreement) -> tuple[Message, str | None]:
    """``(message to use, None)``, or ``(message, why it must be dropped)``.

    A plain ``message`` is used as it is; an encrypted one is decrypted by ``identity``.
    """
    if not message.encrypted:
        return message, None
    try:
        return message.decrypt(identity), None
    except IoapError as exc:
        return message, f"encrypted payload not usable ({exc})"
