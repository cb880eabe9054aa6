"""The gateway's side of REGISTER checks: its limits around the protocol core's handshake.

The protocol checks (envelope, type, DID, payload schema, signature, public key, addressing,
nonce, freshness) are :class:`aiconexus.protocol.ServerHandshake`'s. This module adds the
gateway's settings to them, keeping the order of PROTOCOL.md 7.2: size and a cheap bracket
count before parsing, then the payload's own bounds (capabilities, metadata and
capability_info, checked
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
from aiconexus_gateway.settings import Settings

from .sizes import utf8_length_over

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
    info_limit = settings.register_max_capability_info_bytes
    # n bytes of JSON hold at most n/2 objects/arrays: refused before parsing
    brackets = text.count("{") + text.count("[")
    if metadata_limit and info_limit and brackets > (metadata_limit + info_limit) // 2 + 8:
        raise _malformed(
            f"metadata and capability_info exceed {metadata_limit} and {info_limit} bytes"
            " of JSON (REGISTER_MAX_METADATA_BYTES, REGISTER_MAX_CAPABILITY_INFO_BYTES)"
        )
    return handshake.receive_register(text)


def check_register_payload(payload: dict[str, Any], settings: Settings) -> None:
    """MALFORMED_MESSAGE when capabilities, metadata or capability_info exceed their bounds."""
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
    _check_object(
        payload,
        "metadata",
        settings.register_max_metadata_bytes,
        settings.register_max_metadata_depth,
    )
    _check_object(
        payload,
        "capability_info",
        settings.register_max_capability_info_bytes,
        settings.register_max_capability_info_depth,
    )


def _check_object(payload: dict[str, Any], member: str, limit: int, depth: int) -> None:
    """MALFORMED_MESSAGE when ``payload[member]`` is over ``limit`` bytes or ``depth`` levels."""
    value = payload.get(member)
    if not isinstance(value, dict) or not value:
        return
    setting = f"REGISTER_MAX_{member.upper()}"
    encoded = orjson.dumps(value)
    if limit and len(encoded) > limit:
        raise _malformed(f"{member} exceeds {limit} bytes of JSON ({setting}_BYTES)")
    if depth and encoded.count(b"{") + encoded.count(b"[") > depth:
        try:
            check_nesting(value, max_depth=depth)
        except MalformedMessageError:
            problem = f"{member} nests deeper than {depth} levels ({setting}_DEPTH)"
            raise _malformed(problem) from None


def _malformed(message: str) -> IoapError:
    return error_from_code(ErrorCode.MALFORMED_MESSAGE, message)
