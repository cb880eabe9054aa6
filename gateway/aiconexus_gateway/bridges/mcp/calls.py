"""``tools/call`` as an EXEC_REQUEST: arguments checked, an agent chosen, the outcome mapped.

* The arguments must be an object of at most ``max_args_bytes`` bytes of compact JSON and
  at most :data:`MAX_ARGS_DEPTH` levels deep (else :class:`BadCall`, answered as a JSON-RPC
  ``INVALID_PARAMS`` error), and follow the capability's declared ``args_schema`` (else an
  ``isError`` result with code ``INVALID_ARGUMENTS`` and the validation message, so that a
  model can correct its call, as MCP asks of input validation errors).
* The agent: the one whose DID the caller named (``_meta["aiconexus/did"]``; it must offer
  the capability), otherwise the agents offering the capability in round-robin order. An
  agent that turned out to be offline (the gateway queued the request) or unknown is skipped
  for the next one; when none is left the result is an ``isError`` ``NO_AGENT_ONLINE``.
* The outcome: EXEC_RESPONSE ``success`` -> its ``result`` as text content (JSON, or the
  string itself) and, when it is an object, as ``structuredContent``; EXEC_RESPONSE
  ``error`` -> ``isError`` with code ``EXECUTION_FAILED`` (or the ``code`` of an error
  object); an ERROR frame (the access policy's ``UNAUTHORIZED``, ``RATE_LIMITED`` ...) ->
  ``isError`` with its code; no answer in time -> ``isError`` ``TIMEOUT``.

An ``isError`` result carries ``structuredContent`` ``{"error": {"code", "message"}}`` and
the text ``"<code>: <message>"``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import mcp_types as types
import orjson
from jsonschema import exceptions as schema_errors
from jsonschema import validators

from aiconexus import ErrorCode, Identity, Message, MessageType
from aiconexus.protocol import MalformedMessageError, check_nesting

from ...errors import GatewayError
from ..pool import ClientPool, Queued, Refused, TimedOut, Unavailable, exec_request
from .catalog import ToolEntry

__all__ = [
    "DEFAULT_MAX_ARGS_BYTES",
    "MAX_ARGS_DEPTH",
    "BadCall",
    "call_tool",
    "check_arguments",
    "error_result",
    "success_result",
]

DEFAULT_MAX_ARGS_BYTES = 65536
"""Largest tool arguments accepted, in bytes of compact JSON."""
MAX_ARGS_DEPTH = 24
"""Deepest nesting of the arguments (the arguments object is level 1)."""


class BadCall(GatewayError, ValueError):
    """A call the bridge refuses before any agent sees it (a JSON-RPC error, not a result)."""


def check_arguments(arguments: Any, *, max_bytes: int = DEFAULT_MAX_ARGS_BYTES) -> dict[str, Any]:
    """The arguments as a dict, or :class:`BadCall` (not an object, too large, too deep)."""
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise BadCall("arguments must be an object")
    size = len(orjson.dumps(arguments))
    if max_bytes and size > max_bytes:
        raise BadCall(f"arguments take {size} bytes of JSON, more than {max_bytes}")
    try:
        check_nesting(arguments, max_depth=MAX_ARGS_DEPTH)
    except MalformedMessageError:
        raise BadCall(f"arguments nest deeper than {MAX_ARGS_DEPTH} levels") from None
    return arguments


def schema_problem(schema: Mapping[str, Any] | None, arguments: dict[str, Any]) -> str | None:
    """Why ``arguments`` do not follow ``schema`` (None when they do, or with no schema)."""
    if not schema:
        return None
    validator = _validator(json.dumps(schema, sort_keys=True))
    if validator is None:
        return None  # the agent's declared schema is not a valid JSON Schema: the agent judges
    error = schema_errors.best_match(validator.iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    schema = json.loads(schema_text)
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except schema_errors.SchemaError:
        return None
    return cls(schema)


def success_result(result: Any) -> types.CallToolResult:
    """The MCP result of an EXEC_RESPONSE ``success`` carrying ``result``."""
    text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=result if isinstance(result, dict) else None,
    )


def error_result(code: str, message: str) -> types.CallToolResult:
    """An ``isError`` result: ``"<code>: <message>"`` and ``{"error": {code, message}}``."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{code}: {message}")],
        structured_content={"error": {"code": code, "message": message}},
        is_error=True,
    )


async def call_tool(
    pool: ClientPool,
    identity: Identity,
    entry: ToolEntry,
    arguments: dict[str, Any],
    *,
    did: str | None = None,
    timeout: float = 30.0,
) -> types.CallToolResult:
    """Run one checked call of ``entry`` as ``identity``, through ``pool`` (see the module)."""
    problem = schema_problem(entry.capability.args_schema, arguments)
    if problem is not None:
        return error_result("INVALID_ARGUMENTS", problem)
    if did is not None and did not in entry.dids:
        return error_result(
            "NO_AGENT_ONLINE", f"{did} does not offer {entry.capability.name!r} (or is offline)"
        )
    for candidate in [did] if did is not None else entry.order():
        request = exec_request(identity, candidate, arguments, timeout_s=timeout)
        outcome = await pool.request(request, identity, timeout_s=timeout)
        if isinstance(outcome, Queued):
            continue  # offline after all: the next agent
        if isinstance(outcome, Refused):
            if outcome.error.code == ErrorCode.UNKNOWN_AGENT:
                continue
            return error_result(str(outcome.error.code), outcome.error.message)
        if isinstance(outcome, TimedOut):
            return error_result("TIMEOUT", f"no answer from {candidate} within {timeout:g}s")
        if isinstance(outcome, Unavailable):
            return error_result("GATEWAY_UNAVAILABLE", outcome.reason)
        return _answer(outcome.response)
    return error_result("NO_AGENT_ONLINE", f"no agent offering {entry.capability.name!r} is online")


def _answer(response: Message) -> types.CallToolResult:
    payload = response.payload
    if response.type == MessageType.ERROR:
        return error_result(str(payload.get("code")), str(payload.get("message", "")))
    if payload.get("status") == "success":
        return success_result(payload.get("result"))
    return _execution_error(payload.get("error"))


def _execution_error(error: Any) -> types.CallToolResult:
    code = "EXECUTION_FAILED"
    if isinstance(error, dict):
        if isinstance(error.get("code"), str) and error["code"]:
            code = error["code"]
        message = error.get("message")
        text = message if isinstance(message, str) else json.dumps(error, ensure_ascii=False)
    else:
        text = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False)
    return error_result(code, text)
