"""The `aiconexus` request, listen, --version, @FILE/- and its messages for common mistakes.

Real processes of both console scripts against a real gateway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.gateway import Gateway

from aiconexus import Agent, GatewayClient, Identity, Message

from .conftest import fast_options

BIN = Path(sys.executable).parent


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "aiconexus"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "AICONEXUS_GATEWAY"},
    )


def fails(result: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert result.returncode == status, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert text in result.stderr, result.stderr


def test_both_console_scripts_print_their_version_and_key_locations() -> None:
    """--version names the package version; --help names the default key files."""
    for script, package in (("aiconexus", "aiconexus-sdk"), ("aiconexus-gateway", None)):
        version = subprocess.run(
            [str(BIN / script), "--version"], capture_output=True, text=True, check=False
        )
        assert version.returncode == 0
        assert version.stdout.startswith(f"{script} 0."), version.stdout
        if package:
            assert package in version.stdout
    sdk_help = run("--help").stdout
    gateway_help = subprocess.run(
        [str(BIN / "aiconexus-gateway"), "--help"], capture_output=True, text=True, check=False
    ).stdout
    assert "~/.aiconexus/identity.key" in sdk_help
    assert "~/.aiconexus/gateway.key" in " ".join(gateway_help.split())


def test_key_file_mistakes_are_named(tmp_path: Path) -> None:
    """A directory as key file, a missing --out directory: exit 2 saying what is wrong."""
    fails(run("whoami", "--key", str(tmp_path)), 2, f"{tmp_path} is a directory, not a key file")
    fails(run("keygen", "--out", str(tmp_path)), 2, f"{tmp_path} is a directory")
    missing = tmp_path / "nowhere" / "agent.key"
    fails(run("keygen", "--out", str(missing)), 2, f"directory {missing.parent} does not exist")
    assert not missing.parent.exists()


def test_a_key_file_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The CLI prints a warning with the chmod to run; Identity.load logs one."""
    key = tmp_path / "open.key"
    Identity.generate().save(key)
    key.chmod(0o644)
    result = run("whoami", "--key", str(key))
    assert result.returncode == 0 and result.stdout.startswith("did:key:")
    assert "readable by other users (mode 0644); run: chmod 600" in result.stderr
    with caplog.at_level(logging.WARNING, logger="aiconexus.identity"):
        Identity.load(key)
    assert "readable by other users" in caplog.text
    key.chmod(0o600)
    caplog.clear()
    assert "warning" not in run("whoami", "--key", str(key)).stderr
    Identity.load(key)
    assert caplog.text == ""


def test_agents_and_ping_explain_an_empty_match_and_a_wrong_path(gateway: Gateway) -> None:
    """No agent with the capability is said so; a URL without /ws is not 'unreachable'."""
    nobody = run("agents", "--gateway", gateway.ws_url, "--capability", "no-such-skill")
    assert nobody.returncode == 0
    assert nobody.stdout.strip() == "no registered agent offers the capability 'no-such-skill'"
    wrong = gateway.ws_url.replace("/ws", "/wrong")
    for command in ("agents", "ping"):
        fails(run(command, "--gateway", wrong), 1, f"no gateway WebSocket at {wrong}")


async def test_request_prints_the_exec_response(gateway: Gateway, tmp_path: Path) -> None:
    """Args inline, from @FILE and from stdin; the EXEC_RESPONSE comes out as one JSON line."""
    key = tmp_path / "me.key"
    await asyncio.to_thread(run, "keygen", "--out", str(key))
    agent = Agent(Identity.generate(), **fast_options())

    @agent.on("EXEC_REQUEST")
    async def echo(msg: Message) -> dict[str, Any]:
        if msg.payload["args"].get("fail"):
            raise RuntimeError("asked to fail")
        return {"echo": msg.payload["args"]}

    (tmp_path / "args.json").write_text('{"n": 2}')
    common = ("request", "--key", str(key), "--to", agent.did, "--gateway", gateway.ws_url)
    async with agent.connect(gateway.ws_url):
        inline = await asyncio.to_thread(run, *common, "--args", '{"n": 1}')
        from_file = await asyncio.to_thread(run, *common, "--args", f"@{tmp_path / 'args.json'}")
        from_stdin = await asyncio.to_thread(run, *common, "--args", "-", stdin='{"n": 3}')
        failing = await asyncio.to_thread(run, *common, "--args", '{"fail": true}')
    for result, n in ((inline, 1), (from_file, 2), (from_stdin, 3)):
        assert result.returncode == 0, result.stderr
        response = json.loads(result.stdout)
        assert response["type"] == "EXEC_RESPONSE" and response["from"] == agent.did
        assert response["payload"]["result"] == {"echo": {"n": n}}
    fails(failing, 1, "remote execution failed: asked to fail")
    assert json.loads(failing.stdout)["payload"]["status"] == "error"
    missing = await asyncio.to_thread(run, *common, "--args", f"@{tmp_path / 'none.json'}")
    fails(missing, 2, "--args @")


def test_request_to_an_agent_not_connected(gateway: Gateway, tmp_path: Path) -> None:
    """--if-offline fail stops at the queued ACK; waiting ends in a timeout naming the cause."""
    key = tmp_path / "me.key"
    run("keygen", "--out", str(key))
    offline = Identity.generate().did
    common = ("request", "--key", str(key), "--to", offline, "--gateway", gateway.ws_url)
    fails(run(*common, "--if-offline", "fail"), 1, f"{offline} is not connected")
    fails(run(*common, "--timeout", "0.5"), 1, "did not connect and answer within 0.5s")


async def test_listen_prints_incoming_frames_as_json_lines(
    gateway: Gateway, tmp_path: Path
) -> None:
    """Each verified frame addressed to the key is printed as the envelope JSON, one a line."""
    key = tmp_path / "listener.key"
    listener = Identity.generate()
    listener.save(key)
    process = await asyncio.create_subprocess_exec(
        str(BIN / "aiconexus"), "listen", "--key", str(key), "--gateway", gateway.ws_url,
        "--capability", "notes", "--count", "2",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None and process.stdout is not None
    async with asyncio.timeout(15):
        started = (await process.stderr.readline()).decode()
        assert started.startswith(f"listening as {listener.did} at {gateway.ws_url}")
        async with GatewayClient(gateway.ws_url, Identity.generate(), **fast_options()) as sender:
            await sender.send(listener.did, "OFFER", {"sdp": "v=0"})
            await sender.send(listener.did, "INTENT", {"query": "notes?"})
            output, _ = await process.communicate()
    assert process.returncode == 0
    frames = [json.loads(line) for line in output.decode().splitlines()]
    assert [(f["type"], f["payload"]) for f in frames] == [
        ("OFFER", {"sdp": "v=0"}),
        ("INTENT", {"query": "notes?"}),
    ]
    assert all(f["from"] == sender.did and f["signature"] for f in frames)
