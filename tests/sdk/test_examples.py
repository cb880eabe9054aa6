"""The examples run as written against a real gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from support.gateway import Gateway
from support.starter import StartGateway

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, gateway: Gateway) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), gateway.ws_url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_echo_agent_answers_the_requester(gateway: Gateway) -> None:
    """requester.py finds echo_agent.py by capability and gets its args echoed."""
    env = {**os.environ, "AICONEXUS_GATEWAY": gateway.ws_url}
    agent = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo_agent.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert agent.stdout is not None
        ready = agent.stdout.readline()
        assert ready.startswith("echo agent ready: did:key:z6Mk"), ready
        result = run_example("requester.py", gateway)
        assert result.returncode == 0, result.stderr
        assert "{'echo': {'text': 'hello'}}" in result.stdout
        assert ready.split(": ")[1].strip() in result.stdout
    finally:
        agent.send_signal(signal.SIGINT)
        _, errors = agent.communicate(timeout=10)
    assert agent.returncode == 0, errors


def test_requester_without_an_echo_agent_says_so(start_memory_gateway: StartGateway) -> None:
    """With no echo agent registered, requester.py explains and exits 1."""
    fresh = start_memory_gateway()
    result = run_example("requester.py", fresh)
    assert result.returncode == 1
    assert "no echo agent" in result.stdout


def test_signalling_pair_completes(gateway: Gateway) -> None:
    """OFFER, ANSWER and ICE candidates go both ways."""
    result = run_example("signalling_pair.py", gateway)
    assert result.returncode == 0, result.stderr
    for line in ("caller: OFFER delivered", "caller: got ANSWER", "signalling complete"):
        assert line in result.stdout
    assert result.stdout.count("got ICE candidate") == 2


def test_marketplace_negotiates_then_executes(start_memory_gateway: StartGateway) -> None:
    """The buyer gets a priced offer by INTENT, then the result by EXEC_REQUEST."""
    fresh = start_memory_gateway()
    result = run_example("marketplace.py", fresh)
    assert result.returncode == 0, result.stderr
    assert "offers 0.05 EUR" in result.stdout
    assert "HELLO WORLD FROM THE MARKETPLACE" in result.stdout
