"""The access policy (POLICY_FILE) on a real gateway: each condition, REGISTER, SIGHUP reload.

The policy is a per-process concern, the same whatever the backend: these tests run on the
memory backend only (one test runs two workers on Redis, where SIGHUP goes through uvicorn's
supervisor).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.backends import backend_environment
from support.client import RawClient
from support.gateway import Gateway, GatewayProcess, coverage_env, gateway_script
from support.inprocess import InProcessGateway

from aiconexus.protocol import Identity
from aiconexus_gateway.guards.policy_file import PolicyError, load_policy

MALLORY = Identity.generate()
ACCOUNTANT = Identity.generate()
VAULT = Identity.generate()
BANNED = Identity.generate()

POLICY = f"""
# The example of PROTOCOL.md, with each kind of condition.
default = "allow"

[[rule]]
name = "no-ice"
action = "deny"
type = "ICE_CANDIDATE"

[[rule]]
name = "mallory-may-not-offer"
action = "deny"
from = "{MALLORY.did}"
type = ["OFFER", "INTENT"]

[[rule]]
name = "billing-may-exec"
action = "allow"
type = "EXEC_REQUEST"
to = "{VAULT.did}"
capability = ["billing", "audit"]

[[rule]]
name = "exec-needs-billing"
action = "deny"
type = "EXEC_REQUEST"
to = ["{VAULT.did}"]

[[rule]]
name = "banned"
action = "deny"
type = "REGISTER"
from = "{BANNED.did}"
"""


def _start(tmp_path: Path, policy: str, **env: str) -> GatewayProcess:
    path = tmp_path / "policy.toml"
    path.write_text(policy, encoding="utf-8")
    settings = {"STORAGE_TYPE": "memory", "POLICY_FILE": str(path), **env}
    return GatewayProcess(settings, tmp_path / "gw").start()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """One gateway (served in-process) with POLICY for the decision tests."""
    tmp_path = tmp_path_factory.mktemp("policy")
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    settings = {"STORAGE_TYPE": "memory", "POLICY_FILE": str(path)}
    gateway = InProcessGateway(settings, tmp_path / "gw").start()
    yield gateway
    gateway.stop()


def _wait_for_count(gateway: Gateway, text: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while gateway.log().count(text) < count:
        assert time.monotonic() < deadline, gateway.log()
        time.sleep(0.02)


async def _refused_by_rule(client: RawClient, to: str, kind: str, payload: dict[str, Any]) -> str:
    """Send one frame that a policy rule must refuse; returns the ERROR's message."""
    error = await client.refused(client.make(kind, to, payload), "UNAUTHORIZED")
    assert error.payload["details"] == {"rule": error.payload["message"].split('"')[1]}
    return str(error.payload["message"])


async def _delivered(
    sender: RawClient, recipient: RawClient, kind: str, payload: dict[str, Any]
) -> None:
    sent = await sender.send_message(kind, recipient.did, payload)
    assert (await recipient.recv()).id == sent.id
    ack = await sender.expect("ACK")
    assert ack.correlation_id == sent.id and ack.payload["status"] == "delivered"


async def test_type_condition(guarded: Gateway) -> None:
    """A rule on the message type refuses that type only, naming the rule."""
    alice = await RawClient.connect(guarded.ws_url)
    bob = await RawClient.connect(guarded.ws_url)
    candidate = {"candidate": "candidate:1 1 UDP 1 127.0.0.1 9 typ host"}
    message = await _refused_by_rule(alice, bob.did, "ICE_CANDIDATE", candidate)
    assert message == 'refused by access policy rule "no-ice"'
    await _delivered(alice, bob, "OFFER", {"sdp": "v=0"})


async def test_sender_condition(guarded: Gateway) -> None:
    """A rule on ``from`` refuses that sender's listed types; other senders and types pass."""
    mallory = await RawClient.connect(guarded.ws_url, MALLORY)
    alice = await RawClient.connect(guarded.ws_url)
    bob = await RawClient.connect(guarded.ws_url)
    assert "mallory-may-not-offer" in await _refused_by_rule(
        mallory, bob.did, "OFFER", {"sdp": "v=0"}
    )
    await _delivered(alice, bob, "OFFER", {"sdp": "v=0"})
    await _delivered(mallory, bob, "ANSWER", {"sdp": "v=0"})
    await mallory.close()


async def test_recipient_and_capability_conditions(guarded: Gateway) -> None:
    """Only a sender announcing ``billing`` (or ``audit``) may send EXEC_REQUEST to the vault."""
    vault = await RawClient.connect(guarded.ws_url, VAULT)
    accountant = await RawClient.connect(guarded.ws_url, ACCOUNTANT, capabilities=["billing"])
    alice = await RawClient.connect(guarded.ws_url, capabilities=["translate"])
    bob = await RawClient.connect(guarded.ws_url)
    request = {"action": "pay", "args": {"amount": 1}}
    await _delivered(accountant, vault, "EXEC_REQUEST", request)
    assert "exec-needs-billing" in await _refused_by_rule(alice, vault.did, "EXEC_REQUEST", request)
    await _delivered(alice, bob, "EXEC_REQUEST", request)  # another recipient
    await _delivered(alice, vault, "OFFER", {"sdp": "v=0"})  # another type
    await vault.close()
    await accountant.close()


async def test_register_refused_by_rule(guarded: Gateway) -> None:
    """A REGISTER rule refuses the handshake: ERROR UNAUTHORIZED naming it, then close 1008."""
    banned = await RawClient.open(guarded.ws_url, BANNED)
    await banned.read_challenge()
    sent = await banned.register()
    error = await banned.expect_error("UNAUTHORIZED", sent.id)
    assert error.payload["message"] == 'refused by access policy rule "banned"'
    assert await banned.closed() == 1008
    assert BANNED.did not in {agent["did"] for agent in guarded.agents()}
    guarded.wait_for_log("refused by access policy rule")


async def test_sighup_reloads_without_dropping_sessions(tmp_path: Path) -> None:
    """SIGHUP: the new rules decide the next frames of the same sessions; ids stay usable."""
    gateway = _start(tmp_path, 'default = "allow"\n')
    try:
        alice = await RawClient.connect(gateway.ws_url)
        bob = await RawClient.connect(gateway.ws_url)
        await _delivered(alice, bob, "OFFER", {"sdp": "v=0"})
        (tmp_path / "policy.toml").write_text(
            'default = "deny"\n\n[[rule]]\nname = "answers"\naction = "allow"\ntype = "ANSWER"\n'
        )
        gateway.hangup()
        gateway.wait_for_log("policy reloaded from")
        held = alice.make("OFFER", bob.did, {"sdp": "v=0"})
        await alice.send_text(held.to_json())
        error = await alice.expect_error("UNAUTHORIZED", held.id)
        assert error.payload["message"] == 'refused by access policy rule "default"'
        await _delivered(alice, bob, "ANSWER", {"sdp": "v=0"})
        (tmp_path / "policy.toml").write_text('default = "allow"\n')
        gateway.hangup()
        _wait_for_count(gateway, "policy reloaded from", 2)
        await alice.send_text(held.to_json())  # the refused id was not used up
        assert (await bob.recv()).id == held.id
        assert gateway.health().json()["connections"] == 2
    finally:
        gateway.stop()


async def test_invalid_file_at_reload_keeps_the_policy(tmp_path: Path) -> None:
    """A reload of a broken file logs an error naming the line; the old rules stay in force."""
    gateway = _start(tmp_path, POLICY)
    try:
        broken = POLICY.replace('action = "deny"', 'action = "nope"', 1)
        (tmp_path / "policy.toml").write_text(broken)
        gateway.hangup()
        output = gateway.wait_for_log("policy reload failed")
        line = next(n for n, text in enumerate(broken.splitlines(), 1) if "nope" in text)
        assert f"policy.toml line {line}: rule 'no-ice': action must be" in output
        alice = await RawClient.connect(gateway.ws_url)
        bob = await RawClient.connect(gateway.ws_url)
        candidate = {"candidate": "candidate:1 1 UDP 1 127.0.0.1 9 typ host"}
        assert "no-ice" in await _refused_by_rule(alice, bob.did, "ICE_CANDIDATE", candidate)
    finally:
        gateway.stop()


def test_invalid_file_stops_the_start(tmp_path: Path) -> None:
    """A broken POLICY_FILE: exit 2 with one line naming the variable, the file and the line.

    (Every kind of mistake is checked without a process in test_policy_file.)
    """
    path = tmp_path / "policy.toml"
    path.write_text('default = "allow"\n[[rule]]\nname = "x"\naction = "deny"\nform = "a"\n')
    result = subprocess.run(
        [gateway_script()],
        env={
            "PATH": "/usr/bin:/bin",
            "POLICY_FILE": str(path),
            "GATEWAY_PORT": "0",
            **coverage_env(),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    (message,) = result.stderr.splitlines()
    prefix = f"aiconexus-gateway: invalid setting POLICY_FILE: {path} line 5: "
    assert message.startswith(prefix)
    assert "unknown key 'form' in a rule" in message


@pytest.mark.redis
async def test_sighup_reaches_every_worker(tmp_path: Path) -> None:
    """GATEWAY_WORKERS=2: the supervisor forwards SIGHUP; both workers reload, sessions stay."""
    with backend_environment("redis") as redis_env:
        path = tmp_path / "policy.toml"
        path.write_text('default = "allow"\n', encoding="utf-8")
        env = {**redis_env(), "GATEWAY_WORKERS": "2", "POLICY_FILE": str(path)}
        gateway = GatewayProcess(env, tmp_path / "gw").start()
        try:
            _wait_for_count(gateway, "SIGHUP reloads it", 2)  # both workers are serving
            clients = [await RawClient.connect(gateway.ws_url) for _ in range(4)]
            path.write_text('default = "deny"\n', encoding="utf-8")
            gateway.hangup()
            _wait_for_count(gateway, "policy reloaded from", 2)
            for client in clients:
                sent = await client.send_message("OFFER", clients[0].did, {"sdp": "v=0"})
                await client.expect_error("UNAUTHORIZED", sent.id)
        finally:
            gateway.stop()


async def test_a_file_without_default_is_refused_at_reload(tmp_path: Path) -> None:
    """SIGHUP with a 0-byte file, or rules but no ``default``: refused, the deny policy stays."""
    deny = 'default = "deny"\n[[rule]]\nname = "join"\naction = "allow"\ntype = "REGISTER"\n'
    gateway = _start(tmp_path, deny)
    try:
        alice = await RawClient.connect(gateway.ws_url)
        bob = await RawClient.connect(gateway.ws_url)
        no_default = '[[rule]]\nname = "ice"\naction = "deny"\ntype = "ICE_CANDIDATE"\n'
        for attempt, text in enumerate(("", no_default), start=1):
            (tmp_path / "policy.toml").write_text(text)
            gateway.hangup()
            _wait_for_count(gateway, "policy reload failed", attempt)
            assert "no `default`" in gateway.log(), gateway.log()[-2000:]
            message = await _refused_by_rule(alice, bob.did, "OFFER", {"sdp": "v=0"})
            assert message == 'refused by access policy rule "default"'
    finally:
        gateway.stop()


def test_a_file_without_default_stops_the_start(tmp_path: Path) -> None:
    """An empty POLICY_FILE at start: PolicyError, as for any malformed file."""
    path = tmp_path / "policy.toml"
    path.write_text("")
    with pytest.raises(PolicyError, match="no `default`"):
        load_policy(path)
