"""The standalone A2A bridge (``aiconexus-a2a-bridge``) in front of a gateway it only reaches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("a2a", reason="the A2A bridge tests need the a2a extra")

from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.types import Message, Part, Role, SendMessageRequest, TaskState
from google.protobuf.json_format import MessageToDict
from support.in_loop import loopback_socket
from support.inprocess import InProcessGateway
from support.waiting import eventually

from aiconexus_gateway.bridges.a2a.cli import main as standalone_main
from aiconexus_gateway.bridges.a2a.verify import card_verifier

from .conftest import ALICE_TOKEN, TOKENS, echo_agent, http_client, running


def free_port() -> int:
    with loopback_socket() as sock:
        return int(sock.getsockname()[1])


@pytest.fixture
def bridge_process(tmp_path: Path) -> Iterator[tuple[InProcessGateway, str]]:
    """A plain gateway (PUBLIC_URL = the bridge) and the bridge as a process of its own."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = {"STORAGE_TYPE": "memory", "PUBLIC_URL": public}
    with InProcessGateway(env, tmp_path / "gw") as gateway:
        script = shutil.which("aiconexus-a2a-bridge", path=os.path.dirname(sys.executable))
        assert script is not None
        bridge_env = {
            **os.environ,
            "BRIDGE_TOKENS": TOKENS,
            "GATEWAY_KEY_FILE": str(tmp_path / "bridge" / "key"),
        }
        with (tmp_path / "bridge.log").open("wb") as log:
            process = subprocess.Popen(
                [script, "--gateway", gateway.ws_url, "--port", str(port)],
                env=bridge_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                yield gateway, public
            finally:
                process.terminate()
                process.wait(10)


async def test_the_standalone_bridge_serves_a_gateways_agents(
    bridge_process: tuple[InProcessGateway, str],
) -> None:
    """Card verified (signed for the bridge's URL), SendMessage completed, via another process."""
    gateway, public = bridge_process

    def healthy() -> bool:
        try:
            return httpx.get(f"{public}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(healthy, within=20)
    agent = echo_agent()
    async with running(agent, gateway), http_client(ALICE_TOKEN) as http:
        url = f"{public}/a2a/{agent.did}"
        card = await A2ACardResolver(http, url).get_agent_card(
            signature_verifier=card_verifier(agent.did)
        )
        client = await create_client(card, ClientConfig(streaming=False, httpx_client=http))
        message = Message(message_id="m", role=Role.ROLE_USER, parts=[Part(text="hi")])
        events = [e async for e in client.send_message(SendMessageRequest(message=message))]
    task = events[-1].task
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert MessageToDict(task.artifacts[0].parts[0].data)["echo"] == {"text": "hi"}


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("BRIDGE_TOKENS", "bad", "BRIDGE_TOKENS: 'bad' is not a caller name"),
        ("MAX_CONNECTIONS", "many", "MAX_CONNECTIONS: must be an integer, got 'many'"),
    ],
)
def test_a_bad_setting_stops_the_standalone_bridge_with_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    problem: str,
) -> None:
    """One line naming the variable, exit 2, before anything listens."""
    monkeypatch.setenv(variable, value)
    assert standalone_main(["--gateway", "ws://127.0.0.1:9/ws", "--port", "9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aiconexus-a2a-bridge: ") and problem in err, err
    assert len(err.splitlines()) == 1
