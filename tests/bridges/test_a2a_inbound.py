"""Inbound A2A: a2a-sdk's own client calls AIConexus agents through the gateway's bridge."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.client.client import Client
from a2a.types import AgentCard, Message, Part, Role, SendMessageRequest, Task, TaskState
from a2a.utils.errors import InvalidParamsError, UnsupportedOperationError
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value
from support.inprocess import InProcessGateway

from aiconexus import AgentCardSpec, Identity
from aiconexus import Message as Frame
from aiconexus.protocol import build_agent_card
from aiconexus_gateway.bridges.a2a.verify import card_verifier
from aiconexus_gateway.bridges.callers import Callers, load_or_create_secret

from .conftest import ALICE_TOKEN, BOB_TOKEN, StartA2AGateway, echo_agent, http_client, running

BINDINGS = ["JSONRPC", "HTTP+JSON"]


def text_request(text: str) -> SendMessageRequest:
    """A SendMessage with one text part."""
    message = Message(message_id="m1", role=Role.ROLE_USER, parts=[Part(text=text)])
    return SendMessageRequest(message=message)


def data_request(data: dict[str, object]) -> SendMessageRequest:
    """A SendMessage with one data part."""
    part = Part(data=ParseDict(data, Value()))
    return SendMessageRequest(message=Message(message_id="m2", role=Role.ROLE_USER, parts=[part]))


async def a2a_client(
    gateway: InProcessGateway, did: str, http: httpx.AsyncClient, binding: str = "JSONRPC"
) -> Client:
    """a2a-sdk's client for agent ``did``, from its card, speaking ``binding``."""
    card = await A2ACardResolver(http, f"{gateway.http_url}/a2a/{did}").get_agent_card()
    config = ClientConfig(streaming=False, httpx_client=http, supported_protocol_bindings=[binding])
    return await create_client(card, client_config=config)


async def final_task(client: Client, request: SendMessageRequest) -> Task:
    """Send ``request`` and return the task of the last event."""
    events = [event async for event in client.send_message(request)]
    return events[-1].task


@pytest.mark.parametrize("binding", BINDINGS)
async def test_send_message_completes_with_the_agents_answer(
    a2a_gateway: InProcessGateway, binding: str
) -> None:
    """Text -> args {"text"}, data part -> its object; COMPLETED with the signed answer."""
    agent = echo_agent()
    async with running(agent, a2a_gateway), http_client() as http:
        client = await a2a_client(a2a_gateway, agent.did, http, binding)
        task = await final_task(client, text_request("hello"))
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        result = MessageToDict(task.artifacts[0].parts[0].data)
        assert result["echo"] == {"text": "hello"}
        task = await final_task(client, data_request({"n": 3, "xs": [1, 2]}))
        result = MessageToDict(task.artifacts[0].parts[0].data)
        assert result["echo"] == {"n": 3, "xs": [1, 2]}
        # the agent's signed EXEC_RESPONSE travels in the task: verifiable end to end
        envelope = MessageToDict(task.metadata)["aiconexus"]["response"]
        answer = Frame.parse(envelope)
        answer.verify()
        assert answer.from_ == agent.did and answer.correlation_id == task.id


async def test_a_failing_agent_fails_the_task(a2a_gateway: InProcessGateway) -> None:
    """EXEC_RESPONSE error -> FAILED, the error in the status message."""
    agent = echo_agent()
    async with running(agent, a2a_gateway), http_client() as http:
        client = await a2a_client(a2a_gateway, agent.did, http)
        task = await final_task(client, data_request({"fail": True}))
    assert task.status.state == TaskState.TASK_STATE_FAILED
    assert "asked to fail" in task.status.message.parts[0].text


async def test_the_card_is_signed_by_the_agent(a2a_gateway: InProcessGateway) -> None:
    """a2a-sdk's verifier (did:key key provider) accepts the card; one changed byte fails."""
    agent = echo_agent(metadata={"name": "Echo", "description": "Says it back."})
    async with running(agent, a2a_gateway), http_client() as http:
        url = f"{a2a_gateway.http_url}/a2a/{agent.did}"
        verify = card_verifier(agent.did)
        card = await A2ACardResolver(http, url).get_agent_card(signature_verifier=verify)
        assert card.name == "Echo"
        assert card.supported_interfaces[0].url == url
        raw = (await http.get(f"{url}/.well-known/agent-card.json")).json()
    header = json.loads(_b64(raw["signatures"][0]["protected"]))
    assert header == {"alg": "EdDSA", "kid": f"{agent.did}#{agent.did[8:]}", "typ": "JOSE"}
    changed = json.loads(json.dumps(raw).replace("Says it back.", "Says it back!"))
    with pytest.raises(Exception, match="No valid signature"):
        verify(ParseDict(changed, AgentCard(), ignore_unknown_fields=True))
    with pytest.raises(Exception, match="No valid signature"):  # signed by someone else
        card_verifier(Identity.generate().did)(ParseDict(raw, AgentCard()))


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_typed_errors_before_dispatch(a2a_gateway: InProcessGateway) -> None:
    """Unknown DID 404, no or wrong token 401, oversized 413, malformed -32700/-32600, no push."""
    agent = echo_agent()
    base = a2a_gateway.http_url
    async with running(agent, a2a_gateway), http_client(None) as anonymous:
        url = f"{base}/a2a/{agent.did}"
        body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}}
        unknown = await anonymous.post(f"{base}/a2a/{Identity.generate().did}", json=body)
        assert unknown.status_code == 200  # a JSON-RPC error
        assert unknown.json()["error"]["code"] == -32602
        assert unknown.json()["error"]["data"][0]["metadata"]["code"] == "UNKNOWN_AGENT"
        rest = await anonymous.get(f"{base}/a2a/not-a-did/tasks")
        assert rest.status_code == 404 and rest.json()["error"]["status"] == "INVALID_ARGUMENT"
        missing = await anonymous.post(url, json=body)
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith(
            "Bearer"
        )
        assert missing.json()["error"]["data"][0]["metadata"]["code"] == "UNAUTHENTICATED"
        wrong = await anonymous.post(url, json=body, headers={"Authorization": "Bearer x" * 3})
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {ALICE_TOKEN}", "A2A-Version": "1.0"}
        big = await anonymous.post(url, content=b" " * (2 * 1024 * 1024), headers=auth)
        assert big.status_code == 200  # a JSON-RPC error
        assert big.json()["error"]["data"][0]["metadata"]["code"] == "MESSAGE_TOO_LARGE"
        garbled = await anonymous.post(url, content=b"{nope", headers=auth)
        assert garbled.json()["error"]["code"] == -32700
        bad = await anonymous.post(url, json={"jsonrpc": "2.0", "id": 2}, headers=auth)
        assert bad.json()["error"]["code"] == -32600
        no_parts = {**body, "params": {"message": {"messageId": "x", "role": "ROLE_USER"}}}
        empty = await anonymous.post(url, json=no_parts, headers=auth)
        assert empty.json()["error"]["code"] == -32602
        assert "Traceback" not in empty.text
        for method in ("CreateTaskPushNotificationConfig", "ListTaskPushNotificationConfigs"):
            push = {"jsonrpc": "2.0", "id": 3, "method": method, "params": {"taskId": "t"}}
            refused = await anonymous.post(url, json=push, headers=auth)
            assert refused.json()["error"]["code"] == -32003  # PushNotificationNotSupported


async def test_callers_are_identities_and_the_policy_names_them(
    start_a2a_gateway: StartA2AGateway, tmp_path: Path
) -> None:
    """Two tokens -> two DIDs the agent sees; a policy rule refusing bob -> a typed error."""
    secret_file = tmp_path / "bridge.secret"
    tokens = {"alice": ALICE_TOKEN, "bob": BOB_TOKEN}
    callers = Callers(tokens, load_or_create_secret(secret_file))
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'default = "allow"\n\n[[rule]]\nname = "no-bob"\naction = "deny"\ntype = "EXEC_REQUEST"\n'
        f'from = "{callers.did("bob")}"\n'
    )
    gateway = start_a2a_gateway(BRIDGE_SECRET_FILE=str(secret_file), POLICY_FILE=str(policy))
    agent = echo_agent()
    async with running(agent, gateway), http_client(ALICE_TOKEN) as alice:
        client = await a2a_client(gateway, agent.did, alice)
        task = await final_task(client, text_request("hi"))
        assert MessageToDict(task.artifacts[0].parts[0].data)["from"] == callers.did("alice")
        async with http_client(BOB_TOKEN) as bob:
            for binding in BINDINGS:
                client = await a2a_client(gateway, agent.did, bob, binding)
                with pytest.raises(UnsupportedOperationError) as refused:
                    await final_task(client, text_request("hi"))
                assert refused.value.data == {"code": "UNAUTHORIZED", "agent": agent.did}
            card = await A2ACardResolver(
                bob, f"{gateway.http_url}/a2a/{agent.did}"
            ).get_agent_card()
            streaming = await create_client(card, client_config=ClientConfig(httpx_client=bob))
            with pytest.raises(UnsupportedOperationError):  # the stream ends with the error
                async with asyncio.timeout(10):
                    _ = [event async for event in streaming.send_message(text_request("hi"))]


@pytest.mark.parametrize("binding", BINDINGS)
async def test_an_agent_that_never_registered_is_unknown(
    a2a_gateway: InProcessGateway, binding: str
) -> None:
    """a2a-sdk's client gets InvalidParamsError(UNKNOWN_AGENT) for a DID the gateway never saw."""
    stranger = Identity.generate().did
    card = ParseDict(
        build_agent_card(stranger, AgentCardSpec(capabilities=("echo",)), a2a_gateway.http_url),
        AgentCard(),
    )
    async with http_client() as http:
        config = ClientConfig(
            streaming=False, httpx_client=http, supported_protocol_bindings=[binding]
        )
        client = await create_client(card, client_config=config)
        with pytest.raises(InvalidParamsError) as caught:
            await final_task(client, text_request("hi"))
    assert caught.value.data == {"code": "UNKNOWN_AGENT", "agent": stranger}


async def test_a_rate_limited_caller_gets_a_typed_error(
    start_a2a_gateway: StartA2AGateway,
) -> None:
    """Over its per-DID frame budget, a caller's SendMessage fails with code RATE_LIMITED."""
    gateway = start_a2a_gateway(RATE_LIMIT_FRAMES_PER_S="1", RATE_LIMIT_BURST_S="2")
    agent = echo_agent()
    async with running(agent, gateway), http_client() as http:
        client = await a2a_client(gateway, agent.did, http)
        codes = []
        for n in range(6):
            try:
                await final_task(client, text_request(f"call {n}"))
                codes.append("ok")
            except UnsupportedOperationError as refused:
                codes.append(str((refused.data or {}).get("code")))
    assert codes[0] == "ok" and "RATE_LIMITED" in codes, codes
