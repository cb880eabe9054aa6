"""The gateway's side of REGISTER checks: its limits around the protocol core's handshake.

The protocol checks (envelope, type, DID, payload schema, signature, public key, addressing,
nonce, freshness) are :class:`aiconexus.protocol.ServerHandshake`'s. This module adds the
gateway's settings to them, keeping the order of PROTOCOL.md 7.2: size and a cheap bracket
count before parsing, then the payload's own bounds (capabilities and metadata, checked
before any model validation or signature verification, so an oversized REGISTER costs
little) between the core's ``from`` check and its schema check.
"""

from __future__ import annotations

from typing import Any

import orjson

from aiconexus.protocol import (
    ErrorCode,
    FrameWriter,
    IoapError,
    MalformedMessageError,
    MessageTooLargeError,
    Registration,
    ServerHandshake,
    check_nesting,
    error_from_code,
)

from .router import utf8_length_over
from .settings import Settings

__all__ = ["check_register", "check_register_payload", "register_handshake"]


def register_handshake(frames: FrameWriter, settings: Settings) -> ServerHandshake:
    """The core's :class:`ServerHandshake` with this gateway's clock skew and REGISTER bounds."""

    def check_payload(payload: dict[str, Any]) -> None:
        check_register_payload(payload, settings)

    return ServerHandshake(
        frames,
        clock_skew_s=settings.clock_skew,
        check_payload=check_payload,
        public_url=settings.announced_public_url,
    )


def check_register(text: str, *, handshake: ServerHandshake, settings: Settings) -> Registration:
    """The registration a REGISTER answering ``handshake``'s CHALLENGE asks for, or IoapError."""
    if utf8_length_over(text, settings.max_message_size):
        raise MessageTooLargeError("REGISTER is too large")
    metadata_limit = settings.register_max_metadata_bytes
    if metadata_limit and text.count("{") + text.count("[") > metadata_limit // 2 + 8:
        # n bytes of metadata hold at most n/2 objects/arrays: refused before parsing
        raise _malformed(
            f"metadata exceeds {metadata_limit} bytes of JSON (REGISTER_MAX_METADATA_BYTES)"
        )
    return handshake.receive_register(text)


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
