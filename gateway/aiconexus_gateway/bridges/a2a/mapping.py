"""A2A <-> IoAP mapping, without I/O (BRIDGES.md describes it).

* An A2A message's parts become EXEC_REQUEST ``args``: text parts (joined) as
  ``{"text": "..."}``, one data part holding an object as that object.
* An EXEC_RESPONSE ``success`` becomes an artifact (a string result as a text part, any
  other JSON value as a data part) and the state COMPLETED; ``error``, or an ERROR frame,
  becomes FAILED with the error in the status message. The answer's signed envelope travels
  in the task's ``metadata.aiconexus.response`` (the frame's JSON text, as the agent signed
  it), so a client can verify it end to end: ``aiconexus.Message.parse(text).verify()``.
* A gateway refusal becomes A2A's typed error (:func:`a2a_error`), its IoAP code in the
  error's data (``code``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from a2a.types import Artifact, Message, Part, Role, Task, TaskState, TaskStatus
from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Struct, Value

from aiconexus import ErrorCode, IoapError, MessageType
from aiconexus import Message as Frame

__all__ = [
    "MAX_PARTS",
    "TERMINAL_STATES",
    "a2a_error",
    "agent_message",
    "args_of",
    "finish_task",
    "plain",
    "status_now",
]

MAX_PARTS = 64
"""Most parts an incoming A2A message may have."""

TERMINAL_STATES = frozenset(
    {
        TaskState.TASK_STATE_COMPLETED,
        TaskState.TASK_STATE_FAILED,
        TaskState.TASK_STATE_CANCELED,
        TaskState.TASK_STATE_REJECTED,
    }
)
"""States after which a task never changes."""

_INVALID = frozenset(
    {
        ErrorCode.UNKNOWN_AGENT,
        ErrorCode.MALFORMED_MESSAGE,
        ErrorCode.MESSAGE_TOO_LARGE,
        ErrorCode.ENCRYPTION_REQUIRED,
    }
)
_REFUSED = frozenset({ErrorCode.UNAUTHORIZED, ErrorCode.RATE_LIMITED, ErrorCode.QUEUE_FULL})


def plain(value: Any) -> Any:
    """A JSON value read from protobuf with whole floats back to ints (``4.0`` -> ``4``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def args_of(message: Message) -> dict[str, Any]:
    """EXEC_REQUEST ``args`` for an A2A message; InvalidParamsError when it has none."""
    parts = list(message.parts)
    if not parts:
        raise InvalidParamsError("the message has no parts", data={"code": "NO_PARTS"})
    if len(parts) > MAX_PARTS:
        raise InvalidParamsError(f"the message has more than {MAX_PARTS} parts")
    texts = [part.text for part in parts if part.HasField("text")]
    data = [part.data for part in parts if part.HasField("data")]
    if len(texts) + len(data) != len(parts):
        raise InvalidParamsError(
            "only text and data parts are supported", data={"code": "UNSUPPORTED_PART"}
        )
    if (data and texts) or len(data) > 1:
        raise InvalidParamsError(
            "send either text parts or one data part", data={"code": "MIXED_PARTS"}
        )
    if texts:
        return {"text": "\n".join(texts)}
    value = plain(MessageToDict(data[0]))
    if not isinstance(value, dict):
        raise InvalidParamsError(
            "a data part must hold a JSON object", data={"code": "DATA_NOT_OBJECT"}
        )
    return value


def a2a_error(error: IoapError, agent: str) -> A2AError:
    """The A2A error reporting the gateway's refusal ``error`` of a request to ``agent``."""
    data = {"code": str(error.code), "agent": agent}
    text = error.message or str(error.code)
    if error.code in _INVALID:
        return InvalidParamsError(text, data=data)
    if error.code in _REFUSED:
        return UnsupportedOperationError(text, data=data)
    return InternalError(text, data=data)


def _part(value: Any) -> Part:
    if isinstance(value, str):
        return Part(text=value)
    return Part(data=ParseDict(value, Value()), media_type="application/json")


def agent_message(task: Task, text: str, kind: str = "status") -> Message:
    """A message of the agent's side on ``task`` saying ``text`` (id ``<task id>-<kind>``)."""
    return Message(
        message_id=f"{task.id}-{kind}",
        task_id=task.id,
        context_id=task.context_id,
        role=Role.ROLE_AGENT,
        parts=[Part(text=text)],
    )


def status_now(state: int, message: Message | None = None) -> TaskStatus:
    """A task status of ``state`` (a ``TaskState`` number) stamped now, with ``message``."""
    status = TaskStatus(state=state)  # type: ignore[arg-type]
    if message is not None:
        status.message.CopyFrom(message)
    status.timestamp.GetCurrentTime()
    return status


def finish_task(task: Task, answer: Frame) -> None:
    """Complete ``task`` in place from the agent's ``answer`` (EXEC_RESPONSE or ERROR), now."""
    payload: Mapping[str, Any] = answer.payload
    metadata = Struct()
    metadata.update({"aiconexus": {"response": answer.to_json(), "from": answer.from_}})
    task.metadata.CopyFrom(metadata)
    if answer.type == MessageType.EXEC_RESPONSE and payload.get("status") == "success":
        artifact = Artifact(artifact_id=f"{task.id}-result", name="result")
        artifact.parts.append(_part(payload.get("result")))
        task.artifacts.append(artifact)
        task.status.CopyFrom(status_now(TaskState.TASK_STATE_COMPLETED))
        return
    if answer.type == MessageType.ERROR:
        text = f"{payload.get('code')}: {payload.get('message', '')}"
    else:
        error = payload.get("error")
        text = error if isinstance(error, str) else f"{error}"
    task.status.CopyFrom(status_now(TaskState.TASK_STATE_FAILED, agent_message(task, text)))
