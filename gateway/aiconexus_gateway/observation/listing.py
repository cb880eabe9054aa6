"""``GET /agents``: one page of the directory, streamed, its cost bounded whatever its size.

Agents are listed in DID order. A page holds at most ``limit`` agents (default
:data:`PAGE_DEFAULT`, at most :data:`PAGE_MAX`) and ends early once its agents take
:data:`PAGE_MAX_BYTES` of JSON; ``next_cursor`` (the last DID listed) fetches the next page
and is null on the last one. The backend reads one page (O(log n + limit)); the answer is
encoded and sent in chunks of :data:`CHUNK_BYTES`, so a reader that stops reading holds up
one chunk and the socket buffers, never the whole directory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response, StreamingResponse

from aiconexus_gateway.backend.base import AgentRecord, Backend, BackendUnavailableError

__all__ = [
    "CHUNK_BYTES",
    "MAX_CURSOR_LENGTH",
    "PAGE_DEFAULT",
    "PAGE_MAX",
    "PAGE_MAX_BYTES",
    "agents_page",
    "page_chunks",
]

PAGE_DEFAULT = 100
"""Agents in a page when the request gives no ``limit``."""
PAGE_MAX = 1000
"""The largest ``limit`` a request may ask for."""
PAGE_MAX_BYTES = 1 << 20
"""A page ends once its agents take this many bytes of JSON (it always holds one agent)."""
CHUNK_BYTES = 64 * 1024
"""The body is sent in pieces of about this size."""
MAX_CURSOR_LENGTH = 512
"""Longest ``cursor`` accepted (a cursor is a DID)."""


async def agents_page(
    backend: Backend, capability: str | None, cursor: str | None, limit: int
) -> Response:
    """The streamed answer of ``GET /agents`` (503 when the backend is unreachable)."""
    try:
        records = await backend.list_agents(capability, after=cursor, limit=limit + 1)
    except BackendUnavailableError as exc:
        return JSONResponse({"error": f"backend unavailable: {exc}"}, status_code=503)
    return StreamingResponse(_paced(page_chunks(records, limit)), media_type="application/json")


def page_chunks(records: list[AgentRecord], limit: int) -> Iterator[bytes]:
    """The JSON body of a page of ``records`` (``limit + 1`` were asked for), in chunks.

    ``{"agents": [...], "count": n, "next_cursor": did | null}``: each agent is encoded when
    the previous chunk has been taken, so a stalled reader holds one chunk.
    """
    buffer = bytearray(b'{"agents":[')
    total = 0
    count = 0
    more = len(records) > limit
    for record in records[:limit]:
        if count and total >= PAGE_MAX_BYTES:
            more = True
            break
        item = _dumps(record.public())
        if count:
            buffer += b","
        buffer += item
        total += len(item)
        count += 1
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    next_cursor = records[count - 1].did if more and count else None
    buffer += b'],"count":' + str(count).encode() + b',"next_cursor":' + _dumps(next_cursor) + b"}"
    yield bytes(buffer)


async def _paced(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Yield each chunk, letting other tasks run between chunks."""
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # e.g. an integer beyond 64 bits in metadata
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
