"""Writing the gateway's own signed frames (CHALLENGE, REGISTERED, ACK, PONG, ERROR).

Received frames are read by the protocol core (:func:`aiconexus.protocol.parse_envelope`).
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from aiconexus.protocol import (
    PROTOCOL_VERSION,
    ErrorCode,
    Identity,
    IoapError,
    MessageType,
    b64url_encode,
    canonicalize,
    error_from_code,
    format_timestamp,
)

__all__ = ["GatewayFrames"]


class GatewayFrames:
    """Builds the gateway's signed frames (CHALLENGE, REGISTERED, ACK, PONG, ERROR).

    Ids are a random per-process prefix plus a counter (unique without a UUID per frame);
    timestamps are cached per second and completed with milliseconds.
    """

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.did = identity.did
        self._sign = identity.sign
        self._prefix = uuid.uuid4().hex[:16] + "-"
        self._counter = itertools.count(1)

    def _next_id(self) -> str:
        return f"{self._prefix}{next(self._counter)}"

    def build(
        self,
        kind: MessageType,
        to: str | None,
        payload: dict[str, Any],
        correlation_id: str | None = None,
    ) -> str:
        """A signed frame's text (canonical JSON, so it is also its own signing input + sig)."""
        envelope: dict[str, Any] = {
            "version": PROTOCOL_VERSION,
            "id": self._next_id(),
            "type": kind.value,
            "from": self.did,
            "to": to,
            "timestamp": format_timestamp(),
            "payload": payload,
        }
        if correlation_id is not None:
            envelope["correlation_id"] = correlation_id
        signing = canonicalize(envelope)
        envelope["signature"] = b64url_encode(self._sign(signing))
        return canonicalize(envelope).decode()

    def challenge(self, nonce: str) -> str:
        """CHALLENGE (``to`` null) carrying ``nonce``."""
        return self.build(MessageType.CHALLENGE, None, {"nonce": nonce})

    def registered(
        self,
        to: str,
        correlation_id: str,
        session_id: str,
        heartbeat_s: float,
        queued: int,
        *,
        recipient_acks: bool = False,
    ) -> str:
        """REGISTERED answering the REGISTER ``correlation_id``.

        ``recipient_acks`` is echoed (true) when the session acknowledges what it receives.
        """
        payload: dict[str, Any] = {
            "session_id": session_id,
            "heartbeat_interval_s": heartbeat_s,
            "queued": queued,
        }
        if recipient_acks:
            payload["recipient_acks"] = True
        return self.build(MessageType.REGISTERED, to, payload, correlation_id)

    def ack(self, to: str, ids: list[str], status: str) -> str:
        """ACK of accepted frames ``ids`` (status ``delivered`` or ``queued``)."""
        envelope = self.unsigned_ack(to, ids, status)
        return self.signed(envelope, self._sign(canonicalize(envelope)))

    def unsigned_ack(self, to: str, ids: list[str], status: str) -> dict[str, Any]:
        """The envelope of an ACK before signing.

        ``correlation_id`` is the acknowledged id when there is exactly one, absent otherwise.
        """
        envelope = {
            "version": PROTOCOL_VERSION,
            "id": self._next_id(),
            "type": "ACK",
            "from": self.did,
            "to": to,
            "timestamp": format_timestamp(),
            "payload": {"status": status, "ids": ids},
        }
        if len(ids) == 1:
            envelope["correlation_id"] = ids[0]
        return envelope

    @staticmethod
    def ack_signing_bytes(envelope: dict[str, Any]) -> bytes:
        """What an envelope from :meth:`unsigned_ack` is signed over."""
        return canonicalize(envelope)

    @staticmethod
    def signed(envelope: dict[str, Any], signature: bytes) -> str:
        """The frame text of ``envelope`` with its ``signature``."""
        envelope["signature"] = b64url_encode(signature)
        return canonicalize(envelope).decode()

    def pong(self, to: str, correlation_id: str, sequence: Any) -> str:
        """PONG answering a PING, echoing its ``sequence``."""
        payload = {} if sequence is None else {"sequence": sequence}
        return self.build(MessageType.PONG, to, payload, correlation_id)

    def error_frame(
        self, to: str | None, error: IoapError, correlation_id: str | None = None
    ) -> str:
        """ERROR reporting ``error`` (its ``to_payload()``); ``correlation_id``: the refused id."""
        return self.build(MessageType.ERROR, to, error.to_payload(), correlation_id)

    def error(
        self,
        to: str | None,
        code: ErrorCode | str,
        message: str,
        correlation_id: str | None = None,
        details: Any = None,
    ) -> str:
        """ERROR with ``code`` (:meth:`error_frame` of the error that code names)."""
        return self.error_frame(to, error_from_code(str(code), message, details), correlation_id)
