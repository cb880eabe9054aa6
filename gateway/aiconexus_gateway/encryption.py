"""The payload check of a routed frame, encrypted payloads included (PROTOCOL.md 8.10).

The gateway cannot read an encrypted payload and does not try: it checks the encrypted
form's shape and sizes (MALFORMED_MESSAGE otherwise) instead of the type's schema, and
routes and stores the frame byte for byte like any other. With ``REQUIRE_ENCRYPTION`` it
refuses plain payloads of the listed types sent to another agent (ENCRYPTION_REQUIRED).
Nothing here logs or returns the encrypted values; error messages name fields and lengths.
"""

from __future__ import annotations

from aiconexus.protocol import (
    SEALABLE_TYPES,
    EncryptionRequiredError,
    Envelope,
    MalformedMessageError,
    MessageType,
    check_sealed,
    is_sealed,
    validate_payload,
)

from .settings import Settings

__all__ = ["PayloadCheck"]

_SEALABLE = frozenset(t.value for t in SEALABLE_TYPES)
_MESSAGE_TYPES = {t.value: t for t in MessageType}


class PayloadCheck:
    """Check 8 of PROTOCOL.md 8.1 for one frame: plain schema, or encrypted form and sizes."""

    __slots__ = ("gateway_did", "max_ct_chars", "required")

    def __init__(self, settings: Settings, gateway_did: str) -> None:
        self.gateway_did = gateway_did
        self.required = settings.require_encryption
        self.max_ct_chars = settings.max_message_size

    def check(self, envelope: Envelope) -> None:
        """MALFORMED_MESSAGE / ENCRYPTION_REQUIRED, or return: the payload may be routed."""
        kind = envelope.type
        payload = envelope.data["payload"]
        if kind in _SEALABLE and is_sealed(payload):
            if envelope.recipient == self.gateway_did:
                raise MalformedMessageError("encrypted payloads are for frames to another agent")
            check_sealed(payload, self.max_ct_chars)
            return
        if kind in self.required and envelope.recipient != self.gateway_did:
            raise EncryptionRequiredError(
                f"this gateway takes {kind} frames to another agent only with an encrypted "
                "payload (REQUIRE_ENCRYPTION)"
            )
        validate_payload(_MESSAGE_TYPES[kind], payload)
