"""The checks of a REGISTER frame, without I/O: text in, a verified Message or an IoapError out.

Order: size, envelope shape (with the protocol core's nesting limits), type, DID, the
payload's own bounds (capabilities and metadata, checked before any model validation or
signature verification, so an oversized REGISTER costs little), signature, public key,
addressing, nonce, freshness.
"""

from __future__ import annotations

from typing import Any

import orjson

from aiconexus.protocol import (
    ErrorCode,
    IoapError,
    MalformedMessageError,
    Message,
    MessageType,
    check_nesting,
    error_from_code,
    is_valid_did,
    parse_envelope,
    public_key_from_did,
    public_key_from_text,
)

from .router import utf8_length_over
from .settings import Settings

__all__ = ["check_register", "check_register_payload"]


def check_register(text: str, *, nonce: str, gateway_did: str, settings: Settings) -> Message:
    """Validate a REGISTER frame answering CHALLENGE ``nonce``; raises the IoapError to answer."""
    if utf8_length_over(text, settings.max_message_size):
        raise error_from_code(ErrorCode.MESSAGE_TOO_LARGE, "REGISTER is too large")
    metadata_limit = settings.register_max_metadata_bytes
    if metadata_limit and text.count("{") + text.count("[") > metadata_limit // 2 + 8:
        # n bytes of metadata hold at most n/2 objects/arrays: refused before parsing
        raise _malformed(
            f"metadata exceeds {metadata_limit} bytes of JSON (REGISTER_MAX_METADATA_BYTES)"
        )
    envelope = parse_envelope(text)
    if envelope.type != MessageType.REGISTER:
        raise error_from_code(ErrorCode.NOT_REGISTERED, "the first frame must be REGISTER")
    if not is_valid_did(envelope.sender):
        raise error_from_code(ErrorCode.MALFORMED_MESSAGE, "from is not an Ed25519 did:key")
    check_register_payload(envelope.data["payload"], settings)
    message = Message.from_dict(envelope.data)
    message.verify()
    claimed_key = message.payload.get("public_key")
    if claimed_key is not None:
        try:
            key = public_key_from_text(claimed_key)
        except ValueError as exc:
            raise error_from_code(ErrorCode.MALFORMED_MESSAGE, f"public_key: {exc}") from None
        if key != public_key_from_did(message.from_):
            raise error_from_code(ErrorCode.DID_MISMATCH, "public_key does not match the DID")
    if message.to != gateway_did:
        raise error_from_code(ErrorCode.UNAUTHORIZED, "REGISTER must be addressed to the gateway")
    if message.payload.get("nonce") != nonce:
        raise error_from_code(ErrorCode.UNAUTHORIZED, "nonce does not match the CHALLENGE")
    message.check_fresh(skew_s=settings.clock_skew)
    return message


def check_register_payload(payload: dict[str, Any], settings: Settings) -> None:
    """MALFORMED_MESSAGE when capabilities or metadata exceed their REGISTER_MAX_* bounds."""
    capabilities = payload.get("capabilities")
    if isinstance(capabilities, list):
        most = settings.register_max_capabilities
        if most and len(capabilities) > most:
            raise _malformed(f"at most {most} capabilities (REGISTER_MAX_CAPABILITIES)")
        longest = settings.register_max_capability_length
        if longest and any(isinstance(c, str) and len(c) > longest for c in capabilities):
            raise _malformed(
                f"a capability has more than {longest} characters (REGISTER_MAX_CAPABILITY_LENGTH)"
            )
    metadata = payload.get("metadata")
    if not isinstance(metadata, dict) or not metadata:
        return
    encoded = orjson.dumps(metadata)
    limit = settings.register_max_metadata_bytes
    if limit and len(encoded) > limit:
        raise _malformed(f"metadata exceeds {limit} bytes of JSON (REGISTER_MAX_METADATA_BYTES)")
    depth = settings.register_max_metadata_depth
    if depth and encoded.count(b"{") + encoded.count(b"[") > depth:
        try:
            check_nesting(metadata, max_depth=depth)
        except MalformedMessageError:
            raise _malformed(
                f"metadata nests deeper than {depth} levels (REGISTER_MAX_METADATA_DEPTH)"
            ) from None


def _malformed(message: str) -> IoapError:
    return error_from_code(ErrorCode.MALFORMED_MESSAGE, message)
