"""The `aiconexus` console script, run as a real process against a real gateway."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from support.gateway import Gateway
from support.ports import free_port

from aiconexus import GatewayClient, Identity

from .conftest import fast_options

CLI = str(Path(sys.executable).parent / "aiconexus")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_keygen_writes_a_private_key_file_and_whoami_reads_it(tmp_path: Path) -> None:
    """Keygen prints the DID and writes a 0600 file; whoami prints the same DID."""
    key = tmp_path / "me.key"
    made = cli("keygen", "--out", str(key))
    assert made.returncode == 0, made.stderr
    did = made.stdout.strip()
    assert did.startswith("did:key:z6Mk")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert Identity.load(key).did == did
    assert cli("whoami", "--key", str(key)).stdout.strip() == did
    again = cli("keygen", "--out", str(key))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_bad_arguments_give_one_line_and_exit_2(tmp_path: Path) -> None:
    """Unknown commands, missing files, bad DIDs, types and JSON: one line on stderr, exit 2."""
    key = tmp_path / "k.key"
    cli("keygen", "--out", str(key))
    peer = Identity.generate().did
    cases = [
        ("frobnicate",),
        ("whoami", "--key", str(tmp_path / "missing.key")),
        ("send", "--key", str(key), "--to", "did:key:nope", "--type", "OFFER"),
        ("send", "--key", str(key), "--to", peer, "--type", "SHOUT", "--payload", "{}"),
        ("send", "--key", str(key), "--to", peer, "--type", "OFFER", "--payload", "{oops"),
        ("send", "--key", str(key), "--to", peer, "--type", "OFFER", "--payload", "{}"),
        ("send", "--to", peer, "--type", "OFFER"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert result.stderr.startswith("aiconexus") and ": error: " in result.stderr


def test_unreachable_gateway_is_reported_with_exit_1(tmp_path: Path) -> None:
    """agents, ping and send name the URL they could not reach and exit 1."""
    url = f"ws://127.0.0.1:{free_port()}/ws"
    key = tmp_path / "k.key"
    cli("keygen", "--out", str(key))
    peer = Identity.generate().did
    for args in (
        ("agents", "--gateway", url),
        ("ping", "--gateway", url),
        ("send", "--key", str(key), "--to", peer, "--type", "OFFER", "--payload", '{"sdp":"x"}',
         "--gateway", url),
    ):  # fmt: skip
        result = cli(*args)
        assert result.returncode == 1, (args, result.stderr)
        assert f"cannot reach the gateway at {url}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


async def test_agents_lists_registered_agents_as_a_table(gateway: Gateway) -> None:
    """Agents shows DID, capabilities and name; --capability filters; env sets the URL."""
    me = Identity.generate()
    async with GatewayClient(
        gateway.ws_url,
        me,
        capabilities=["summarize"],
        metadata={"name": "sum-bot"},
        **fast_options(),
    ):
        table = cli(
            "agents", "--capability", "summarize", env={"AICONEXUS_GATEWAY": gateway.ws_url}
        )
        listing = cli("agents", "--gateway", gateway.ws_url, "--json")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["DID", "CAPABILITIES", "NAME", "CONNECTED", "AT"]
    assert row.split()[:3] == [me.did, "summarize", "sum-bot"]
    assert me.did in {entry["did"] for entry in json.loads(listing.stdout)}


async def test_send_prints_the_ack_status(gateway: Gateway, tmp_path: Path) -> None:
    """Send delivers a signed frame the recipient verifies; an offline DID gives `queued`."""
    key = tmp_path / "sender.key"
    sender_did = cli("keygen", "--out", str(key)).stdout.strip()
    bob = Identity.generate()
    async with GatewayClient(gateway.ws_url, bob, **fast_options()) as b:
        # In a thread: bob's client must keep running to acknowledge what it receives.
        sent = await asyncio.to_thread(
            cli, "send", "--key", str(key), "--to", bob.did, "--type", "offer",
            "--payload", '{"sdp": "v=0"}', "--gateway", gateway.ws_url)  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == "delivered"
        message = await b.recv()
    assert message.from_ == sender_did and message.payload == {"sdp": "v=0"}
    queued = cli("send", "--key", str(key), "--to", Identity.generate().did, "--type", "INTENT",
                 "--payload", '{"query": "anyone?"}', "--gateway", gateway.ws_url)  # fmt: skip
    assert queued.returncode == 0 and queued.stdout.strip() == "queued"


def test_ping_reports_the_gateway_did(gateway: Gateway) -> None:
    """Ping registers a throwaway key and prints the round trip and the gateway's DID."""
    result = cli("ping", "--gateway", gateway.ws_url, "--count", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"PONG from {gateway.did}") for line in lines)
