"""GET /agents in pages (limit, cursor, next_cursor) on every backend, and the bearer tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.client import RawClient
from support.gateway import Gateway
from support.inprocess import InProcessGateway
from support.starter import StartGateway

from aiconexus import list_agents
from aiconexus.protocol import Identity
from aiconexus_gateway.backend.base import AgentRecord
from aiconexus_gateway.backend.memory import MemoryBackend
from aiconexus_gateway.observation.listing import CHUNK_BYTES, PAGE_MAX, PAGE_MAX_BYTES, page_chunks


def _walk(gateway: Gateway, limit: int, **params: str) -> list[list[str]]:
    """The DIDs of each page, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {**params, "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        body = gateway.get("/agents", **query).json()
        assert body["count"] == len(body["agents"]) <= limit
        pages.append([agent["did"] for agent in body["agents"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert cursor == pages[-1][-1]


async def test_pages_walk_every_agent_once(start_gateway: StartGateway) -> None:
    """Pages of 7 list the 25 agents once each, in DID order; ?capability= pages the same way."""
    gateway = start_gateway()
    tag = Identity.generate().did[-8:]
    clients = await asyncio.gather(
        *(
            RawClient.connect(gateway.ws_url, capabilities=[f"c-{tag}"] if i % 3 == 0 else [])
            for i in range(25)
        )
    )
    everyone = sorted(client.did for client in clients)
    pages = _walk(gateway, 7)
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    assert [did for page in pages for did in page] == everyone
    chosen = sorted(client.did for i, client in enumerate(clients) if i % 3 == 0)
    pages = _walk(gateway, 4, capability=f"c-{tag}")
    assert [did for page in pages for did in page] == chosen
    await clients[0].close()
    await clients[1].close()
    left = set(everyone) - {clients[0].did, clients[1].did}
    for _ in range(100):
        if {did for page in _walk(gateway, 10) for did in page} == left:
            break
    else:
        raise AssertionError("closed agents still listed")
    assert sorted(agent.did for agent in await list_agents(gateway.ws_url)) == sorted(left)


def test_bad_page_parameters_are_refused(gateway: Gateway) -> None:
    """A limit outside 1..1000 and an over-long cursor are answered 422, naming the parameter."""
    for params in ({"limit": 0}, {"limit": PAGE_MAX + 1}, {"limit": "ten"}, {"cursor": "x" * 513}):
        response = gateway.get("/agents", **params)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]
    assert gateway.get("/agents", limit=PAGE_MAX).status_code == 200


def _record(did: str, metadata_bytes: int) -> AgentRecord:
    now = "2026-11-27T00:00:00.000Z"
    return AgentRecord(did, ("c",), {"blob": "x" * metadata_bytes}, now, now, "n", "s")


def test_a_page_is_bounded_in_bytes_and_sent_in_chunks() -> None:
    """A page stops after PAGE_MAX_BYTES of agents; each chunk is about CHUNK_BYTES."""
    records = [_record(f"did:key:z{i:04d}", 100_000) for i in range(30)]
    chunks = list(page_chunks(records, 20))
    assert max(len(chunk) for chunk in chunks) < CHUNK_BYTES + 100_200
    body = json.loads(b"".join(chunks))
    assert len(b"".join(chunks)) < PAGE_MAX_BYTES + 100_500
    assert body["count"] == len(body["agents"]) == 11
    assert body["next_cursor"] == "did:key:z0010"
    last = json.loads(b"".join(page_chunks(records[:3], 3)))
    assert (last["count"], last["next_cursor"]) == (3, None)
    one_more = json.loads(b"".join(page_chunks(records[:4], 3)))
    assert (one_more["count"], one_more["next_cursor"]) == (3, "did:key:z0002")


TOKEN = "agents-token-0123456789"
METRICS_TOKEN = "metrics-token-0123456789"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """A gateway with AGENTS_TOKEN and METRICS_TOKEN set."""
    env = {"STORAGE_TYPE": "memory", "AGENTS_TOKEN": TOKEN, "METRICS_TOKEN": METRICS_TOKEN}
    with InProcessGateway(env, Path(tmp_path_factory.mktemp("locked"))) as gateway:
        yield gateway


@pytest.mark.parametrize(("path", "token"), [("/agents", TOKEN), ("/metrics", METRICS_TOKEN)])
def test_tokens_protect_the_operator_endpoints(locked: Gateway, path: str, token: str) -> None:
    """Without the right Bearer token: 401 with WWW-Authenticate: Bearer; /health stays open."""
    url = f"{locked.http_url}{path}"
    other = METRICS_TOKEN if token == TOKEN else TOKEN
    for headers in ({}, {"Authorization": f"Bearer {other}"}, {"Authorization": f"Basic {token}"}):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"bearer  {token}"}).status_code == 200
    assert locked.health().status_code == 200


async def test_sdk_sends_the_directory_token(locked: Gateway) -> None:
    """list_agents(token=...) reads a protected directory; without it, HTTP 401."""
    client = await RawClient.connect(locked.ws_url)
    assert [a.did for a in await list_agents(locked.ws_url, token=TOKEN)] == [client.did]
    with pytest.raises(httpx.HTTPStatusError) as caught:
        await list_agents(locked.ws_url)
    assert caught.value.response.status_code == 401


async def test_memory_index_follows_claims_and_releases() -> None:
    """The memory backend's ordered index follows replacement (new capabilities) and release."""
    backend = MemoryBackend(store_max_per_agent=1, store_max_total=1, store_ttl=1)
    now = "2026-11-27T00:00:00.000Z"
    for did in ("did:c", "did:a", "did:b"):
        await backend.claim(AgentRecord(did, ("x",), {}, now, now, "n", f"s-{did}"))
    await backend.claim(AgentRecord("did:a", ("y",), {}, now, now, "n", "s-new"))
    assert [r.did for r in await backend.list_agents()] == ["did:a", "did:b", "did:c"]
    assert [r.did for r in await backend.list_agents("x")] == ["did:b", "did:c"]
    assert [r.did for r in await backend.list_agents("y")] == ["did:a"]
    assert [r.did for r in await backend.list_agents(after="did:a", limit=1)] == ["did:b"]
    await backend.release("did:a", "s-did:a")  # a stale session: nothing changes
    assert [r.did for r in await backend.list_agents("y")] == ["did:a"]
    await backend.release("did:a", "s-new")
    await backend.release("did:c", "s-did:c")
    assert [r.did for r in await backend.list_agents()] == ["did:b"]
    assert await backend.list_agents("y") == []


def test_declarations_survive_the_redis_record_and_are_public_only_when_given() -> None:
    """capability_info round-trips through the Redis record; no member when nothing is declared."""
    from aiconexus_gateway.backend._redis_codec import record_from_json, record_json

    info = {"c": {"description": "d", "args_schema": {"type": "object"}}}
    record = AgentRecord("did:a", ("c",), {}, "t", "t", "n", "s", capability_info=info)
    assert record_from_json(record_json(record)) == record
    assert record.public()["capability_info"] == info
    assert "capability_info" not in AgentRecord("did:a", ("c",), {}, "t", "t", "n", "s").public()


async def test_sdk_reads_the_directory_with_the_callers_http_client(locked: Gateway) -> None:
    """list_agents(http=...) reads through that client, token and all, and leaves it open."""
    client = await RawClient.connect(locked.ws_url)
    sent: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        sent.append(request.url.path)

    async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as http:
        for _ in range(2):
            agents = await list_agents(locked.ws_url, token=TOKEN, http=http)
            assert [a.did for a in agents] == [client.did]
        assert sent == ["/agents", "/agents"] and not http.is_closed
