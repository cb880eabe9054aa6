"""The payload check of a routed frame, encrypted payloads included (PROTOCOL.md 8.10).

The gateway cannot read an encrypted payload and does not try: it checks the encrypted
form's shape and sizes (MALFORMED_MESSAGE otherwise) instead of the type's schema, and
routes and stores the frame byte for byte like any other. With ``REQUIRE_ENCRYPTION`` it
refuses plain payloads of the listed types sent to another agent (ENCRYPTION_REQUIRED).
With ``all-peer``, the types that cannot be encrypted (PING, PONG, REGISTER, UNREGISTER)
may go to another agent only with the members of their schema: any other member would
carry plaintext past the operator's requirement (ENCRYPTION_REQUIRED, naming the members
allowed).
Nothing here logs or returns the encrypted values; error messages name fields and lengths.
"""

from __future__ import annotations

from aiconexus.protocol import (
    PAYLOAD_MODELS,
    SEALABLE_TYPES,
    EncryptionRequiredError,
    Envelope,
    MalformedMessageError,
    MessageType,
    check_sealed,
    is_sealed,
    validate_payload,
)
from aiconexus_gateway.settings import Settings

__all__ = ["SCHEMA_MEMBERS", "PayloadCheck"]

_EXTRA_MEMBERS = {MessageType.REGISTER: ("recipient_acks",)}
"""Schema members checked outside the payload model (REGISTER's, see register_checks)."""

_SEALABLE = frozenset(t.value for t in SEALABLE_TYPES)
_MESSAGE_TYPES = {t.value: t for t in MessageType}
_UNSEALABLE = (MessageType.PING, MessageType.PONG, MessageType.REGISTER, MessageType.UNREGISTER)
SCHEMA_MEMBERS: dict[str, tuple[str, ...]] = {
    t.value: tuple(sorted({*PAYLOAD_MODELS[t].model_fields, *_EXTRA_MEMBERS.get(t, ())}))
    for t in _UNSEALABLE
}
"""The payload members PING, PONG, REGISTER and UNREGISTER may carry to another agent under
``REQUIRE_ENCRYPTION=all-peer`` (those of PROTOCOL.md 6.1)."""


class PayloadCheck:
    """Check 8 of PROTOCOL.md 8.1 for one frame: plain schema, or encrypted form and sizes."""

    __slots__ = ("all_peer", "gateway_did", "max_ct_chars", "required")

    def __init__(self, settings: Settings, gateway_did: str) -> None:
        self.gateway_did = gateway_did
        self.required = settings.require_encryption
        self.all_peer = self.required >= _SEALABLE
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
        if self.all_peer and kind in SCHEMA_MEMBERS and envelope.recipient != self.gateway_did:
            allowed = SCHEMA_MEMBERS[kind]
            if not payload.keys() <= set(allowed):
                raise EncryptionRequiredError(
                    f"this gateway takes {kind} frames to another agent only with the members "
                    f"of its schema ({', '.join(allowed)}): {kind} cannot be encrypted "
                    "(REQUIRE_ENCRYPTION=all-peer)",
                    details={"members": list(allowed)},
                )
        validate_payload(_MESSAGE_TYPES[kind], payload)
