"""Payload schemas of every message type; extra keys are allowed and kept on the wire."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .capabilities import MAX_DESCRIPTION_LENGTH, MAX_EXAMPLES
from .constants import MessageType
from .errors import MalformedMessageError

__all__ = [
    "AckPayload",
    "AnswerPayload",
    "CapabilityInfo",
    "ChallengePayload",
    "ErrorPayload",
    "ExecRequestPayload",
    "ExecResponsePayload",
    "IceCandidatePayload",
    "IntentPayload",
    "OfferPayload",
    "PAYLOAD_MODELS",
    "PingPayload",
    "PongPayload",
    "RegisterPayload",
    "RegisteredPayload",
    "UnregisterPayload",
    "validate_payload",
]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class CapabilityInfo(_Payload):
    """One entry of REGISTER's ``capability_info``: how to call one capability."""

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    args_schema: dict[str, Any] | None = None
    examples: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_EXAMPLES)

    @model_validator(mode="after")
    def _object_schema(self) -> CapabilityInfo:
        if self.args_schema is not None and self.args_schema.get("type", "object") != "object":
            raise ValueError('args_schema: the "type" of args is "object"')
        return self


class RegisterPayload(_Payload):
    """REGISTER: answer to the gateway's CHALLENGE."""

    nonce: str = Field(min_length=1, max_length=256)
    capabilities: list[str] = Field(default_factory=list, max_length=256)
    metadata: dict[str, Any] = Field(default_factory=dict)
    public_key: str | None = None
    capability_info: dict[str, CapabilityInfo] | None = None

    @model_validator(mode="after")
    def _declared_capabilities(self) -> RegisterPayload:
        undeclared = set(self.capability_info or ()).difference(self.capabilities)
        if undeclared:
            raise ValueError(f"capability_info names {min(undeclared)!r}, not in capabilities")
        return self


class UnregisterPayload(_Payload):
    """UNREGISTER: end the session cleanly."""

    reason: str | None = None


class OfferPayload(_Payload):
    """OFFER: a WebRTC session description offer."""

    sdp: str


class AnswerPayload(_Payload):
    """ANSWER: a WebRTC session description answer."""

    sdp: str


class IceCandidatePayload(_Payload):
    """ICE_CANDIDATE: one ICE candidate."""

    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = Field(default=None, ge=0)


INTENT_FIELDS = ("query", "context", "task", "params", "status", "required_input", "cost")


class IntentPayload(_Payload):
    """INTENT: negotiation of a task; at least one of the intent fields is present."""

    query: str | None = None
    context: Any = None
    task: str | None = None
    params: dict[str, Any] | None = None
    status: str | None = None
    required_input: Any = None
    cost: Any = None

    @model_validator(mode="after")
    def _some_field(self) -> IntentPayload:
        if not self.model_fields_set.intersection(INTENT_FIELDS):
            raise ValueError(f"INTENT needs at least one of {', '.join(INTENT_FIELDS)}")
        return self


class ExecRequestPayload(_Payload):
    """EXEC_REQUEST: ask the recipient to execute something with ``args``."""

    args: dict[str, Any]
    timeout_ms: int | None = Field(default=None, ge=0)
    stream: bool | None = None


class ExecResponsePayload(_Payload):
    """EXEC_RESPONSE: the outcome of an EXEC_REQUEST."""

    status: Literal["success", "error"]
    result: Any = None
    error: Any = None
    execution_time_ms: float | None = Field(default=None, ge=0)


class ErrorPayload(_Payload):
    """ERROR: a coded error report."""

    code: str = Field(min_length=1)
    message: str
    details: Any = None


class PingPayload(_Payload):
    """PING: liveness probe."""

    sequence: int | None = None


class PongPayload(_Payload):
    """PONG: answer to a PING."""

    sequence: int | None = None


class ChallengePayload(_Payload):
    """CHALLENGE: the nonce an agent must sign back in REGISTER (and the gateway's public URL)."""

    nonce: str = Field(min_length=1)
    public_url: str | None = Field(default=None, min_length=1, max_length=2048)


class RegisteredPayload(_Payload):
    """REGISTERED: the session is open."""

    session_id: str
    heartbeat_interval_s: float = Field(gt=0)
    queued: int = Field(ge=0)


class AckPayload(_Payload):
    """ACK: the gateway accepted these frames, or an agent took them in.

    "delivered"/"queued" come from the gateway; "received" goes from an agent to the gateway
    (recipient acknowledgements).
    """

    status: Literal["delivered", "queued", "received"]
    ids: list[str] = Field(min_length=1)


PAYLOAD_MODELS: dict[MessageType, type[_Payload]] = {
    MessageType.REGISTER: RegisterPayload,
    MessageType.UNREGISTER: UnregisterPayload,
    MessageType.OFFER: OfferPayload,
    MessageType.ANSWER: AnswerPayload,
    MessageType.ICE_CANDIDATE: IceCandidatePayload,
    MessageType.INTENT: IntentPayload,
    MessageType.EXEC_REQUEST: ExecRequestPayload,
    MessageType.EXEC_RESPONSE: ExecResponsePayload,
    MessageType.ERROR: ErrorPayload,
    MessageType.PING: PingPayload,
    MessageType.PONG: PongPayload,
    MessageType.CHALLENGE: ChallengePayload,
    MessageType.REGISTERED: RegisteredPayload,
    MessageType.ACK: AckPayload,
}
"""The schema of each message type's payload."""


def validate_payload(message_type: MessageType, payload: dict[str, Any]) -> None:
    """Check ``payload`` against its type's schema; MalformedMessageError if it does not fit."""
    try:
        PAYLOAD_MODELS[message_type].model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise MalformedMessageError(
            f"{message_type} payload: {'; '.join(problems)}", details={"errors": problems}
        ) from None
