"""Outbound: external A2A agents as AIConexus agents (``A2A_REMOTE_AGENTS``).

Each base URL becomes a proxy agent with a stable DID (derived from the bridge secret and
the URL) whose capabilities are the remote card's skill ids, so ``GET /agents`` lists it.
An EXEC_REQUEST to it becomes an A2A ``SendMessage`` made with a2a-sdk's client (``args``
``{"text": ...}`` as a text part, any other object as one data part), waiting at most the
request's ``timeout_ms``. The remote task's result comes back as the proxy's signed
EXEC_RESPONSE (one text part as a string, one data part as its value, several parts as a
list); a task that did not complete (failed, rejected, or waiting for input the proxy
cannot give) as status ``error`` naming its state. A remote card that carries signatures
must verify (did:key signers, a2a-sdk's verifier) or the proxy is not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.types import (
    AgentCard,
    Message,
    Part,
    Role,
    SendMessageRequest,
    Task,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value

from aiconexus import Agent, Identity
from aiconexus import Message as Frame

from .mapping import plain
from .verify import card_verifier

__all__ = ["RemoteAgents", "proxy_identity", "result_of"]

logger = logging.getLogger("aiconexus.bridge.a2a")

_DERIVATION = b"aiconexus a2a remote agent v1"

MAX_TIMEOUT_S = 300.0
"""Longest wait for a remote task, whatever the EXEC_REQUEST's ``timeout_ms`` asks."""


def proxy_identity(secret: bytes, url: str) -> Identity:
    """The stable identity of the proxy for the remote agent at ``url``."""
    seed = hashlib.blake2b(_DERIVATION + b"\0" + url.encode(), key=secret, digest_size=32)
    return Identity.from_seed(seed.digest())


def _message(args: Mapping[str, Any]) -> Message:
    text = args.get("text")
    if set(args) == {"text"} and isinstance(text, str):
        part = Part(text=text)
    else:
        part = Part(data=ParseDict(dict(args), Value()), media_type="application/json")
    return Message(message_id=_uuid(), role=Role.ROLE_USER, parts=[part])


def _uuid() -> str:
    import uuid

    return str(uuid.uuid4())


def _value(part: Part) -> Any:
    if part.HasField("text"):
        return part.text
    if part.HasField("data"):
        return plain(MessageToDict(part.data))
    if part.HasField("url"):
        return {"url": part.url, "media_type": part.media_type}
    return {"media_type": part.media_type, "bytes": len(part.raw)}


def result_of(task: Task | None, message: Message | None) -> Any:
    """The EXEC_RESPONSE ``result`` of a finished remote task (or direct message).

    Raises RuntimeError when the task did not complete.
    """
    if message is not None:
        parts = list(message.parts)
    elif task is not None:
        if task.status.state != TaskState.TASK_STATE_COMPLETED:
            detail = " ".join(p.text for p in task.status.message.parts if p.HasField("text"))
            raise RuntimeError(f"{TaskState.Name(task.status.state)}: {detail}".strip(": "))
        parts = [part for artifact in task.artifacts for part in artifact.parts]
    else:
        raise RuntimeError("the remote agent answered nothing")
    values = [_value(part) for part in parts]
    return values[0] if len(values) == 1 else values


class RemoteAgents:
    """The proxy agents of ``urls``, each served from a background task."""

    def __init__(
        self,
        gateway_url: str,
        urls: tuple[str, ...],
        secret: bytes,
        *,
        gateway_did: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.gateway_url = gateway_url
        self.urls = urls
        self.secret = secret
        self.gateway_did = gateway_did
        self.timeout_s = timeout_s
        self.agents: dict[str, Agent] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Start one proxy per URL (each retries its card and gateway in the background)."""
        if not self.urls:
            return
        self._http = httpx.AsyncClient(timeout=self.timeout_s, trust_env=False)
        for url in self.urls:
            self._tasks.append(asyncio.create_task(self._serve(url), name=f"a2a-proxy-{url}"))

    async def _card(self, url: str) -> AgentCard:
        assert self._http is not None
        resolver = A2ACardResolver(self._http, url)
        card = await resolver.get_agent_card()
        if card.signatures:
            card_verifier()(card)
        return card

    async def _serve(self, url: str) -> None:
        delay = 0.5
        while True:
            try:
                card = await self._card(url)
                break
            except Exception as exc:
                logger.warning("A2A remote agent %s: cannot use its card: %s", url, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        assert self._http is not None
        client = await create_client(
            card, client_config=ClientConfig(streaming=False, httpx_client=self._http)
        )
        identity = proxy_identity(self.secret, url)
        skills = [skill.id for skill in card.skills if skill.id][:64]
        agent = Agent(
            identity,
            capabilities=skills,
            metadata={"name": card.name, "description": card.description, "a2a_url": url},
            gateway_did=self.gateway_did,
            agent_card=False,
        )

        @agent.on("EXEC_REQUEST")
        async def call(frame: Frame) -> Any:
            request = SendMessageRequest(message=_message(frame.payload.get("args") or {}))
            asked_ms = frame.payload.get("timeout_ms")
            timeout = min(asked_ms / 1000, MAX_TIMEOUT_S) if asked_ms else self.timeout_s
            task: Task | None = None
            message: Message | None = None
            async with asyncio.timeout(timeout):
                async for event in client.send_message(request):
                    if event.HasField("task"):
                        task = event.task
                    elif event.HasField("message"):
                        message = event.message
            return result_of(task, message)

        self.agents[url] = agent
        logger.info("A2A remote agent %s is served as %s", url, identity.did)
        try:
            await agent.run(self.gateway_url, handle_signals=False)
        finally:
            await client.close()

    async def stop(self) -> None:
        """Stop every proxy."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._http is not None:
            await self._http.aclose()
