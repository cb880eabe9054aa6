"""Logs of a real gateway process: JSON lines, refusals (bounded), DEBUG frame lines, start-up failures."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from pathlib import Path
from typing import Any

from support.client import RawClient
from support.gateway import Gateway, GatewayProcess, gateway_script
from support.ports import free_port

from aiconexus.protocol import Identity
from aiconexus_gateway.observation.refusal_log import RefusalLog


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _events(process: Gateway, event: str) -> list[dict[str, Any]]:
    return [entry for entry in _json_lines(process.log()) if entry["event"] == event]


async def test_json_lines_parse_and_refusals_carry_their_code(tmp_path: Path) -> None:
    """LOG_FORMAT=json: every line is one JSON object; a refused frame's code is in its line.

    At INFO (the default) a routed frame leaves no line.
    """
    env = {"STORAGE_TYPE": "memory", "LOG_FORMAT": "json", "LOG_FILE": str(tmp_path / "gw.log")}
    with GatewayProcess(env, tmp_path) as gw:
        client = await RawClient.connect(gw.ws_url)
        await client.send_message("OFFER", Identity.generate().did, {"sdp": "x"})
        await client.expect("ACK")
        await client.send_text("not json at all")
        await client.expect_error("MALFORMED_MESSAGE")
        await client.close()
        gw.wait_for_log('"event":"disconnected"')
    entries = _json_lines(gw.log())
    assert all({"time", "level", "event", "logger"} <= set(entry) for entry in entries)
    assert entries[0]["time"].endswith("Z")
    (listening,) = [e for e in entries if e["event"] == "listening"]
    assert listening["url"] == f"ws://127.0.0.1:{gw.port}/ws" and listening["backend"] == "memory"
    (refused,) = [e for e in entries if e["event"] == "refused"]
    assert refused["code"] == "MALFORMED_MESSAGE" and refused["level"] == "info"
    assert refused["session"] and "not json" not in json.dumps(refused)
    assert not [e for e in entries if e["event"] == "frame"]
    (ended,) = [e for e in entries if e["event"] == "disconnected"]
    assert (ended["did"], ended["reason"]) == (client.did, "disconnected")
    in_file = _json_lines((tmp_path / "gw.log").read_text())
    assert [e["event"] for e in in_file] == [e["event"] for e in entries]


async def test_a_refusal_flood_is_logged_at_a_bounded_rate(tmp_path: Path) -> None:
    """400 bad frames: at most 20 "refused" lines a second; one summary counts the rest."""
    # every bad frame answered, none closing the connection: only the log is bounded here
    env = {
        "STORAGE_TYPE": "memory",
        "LOG_FORMAT": "json",
        "REFUSALS_BEFORE_CLOSE": "0",
        "ERRORS_PER_S": "0",
    }
    with GatewayProcess(env, tmp_path) as gw:
        client = await RawClient.connect(gw.ws_url)
        for _ in range(400):
            await client.send_text("{}")
        for _ in range(400):
            await client.expect_error("MALFORMED_MESSAGE")
        gw.wait_for_log('"event":"suppressed"', timeout=5)
        refused = _events(gw, "refused")
        suppressed = _events(gw, "suppressed")
    assert 1 <= len(refused) <= 40  # 20 a second; the flood is over within two seconds
    assert len(refused) + sum(entry["refusals"] for entry in suppressed) == 400
    assert all("MALFORMED_MESSAGE" in entry["by_code"] for entry in suppressed)


async def test_routed_frames_are_logged_at_debug_without_payload(tmp_path: Path) -> None:
    """LOG_LEVEL=DEBUG: a "frame" line with type, from, to, id, size and outcome; no payload."""
    env = {"STORAGE_TYPE": "memory", "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"}
    with GatewayProcess(env, tmp_path) as gw:
        alice = await RawClient.connect(gw.ws_url)
        bob = await RawClient.connect(gw.ws_url)
        sent = await alice.send_message("OFFER", bob.did, {"sdp": "secret-payload-text"})
        await bob.recv_text()
        gw.wait_for_log('"event":"frame"')
        (frame,) = _events(gw, "frame")
    assert frame["type"] == "OFFER" and frame["outcome"] == "delivered"
    assert (frame["from"], frame["to"], frame["id"]) == (alice.did, bob.did, sent.id)
    assert frame["size"] == len(sent.to_json())
    assert "secret-payload-text" not in gw.log()


def _run_cli(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = GatewayProcess({"STORAGE_TYPE": "memory", **env}, tmp_path).env
    return subprocess.run(
        [gateway_script()], env=base, capture_output=True, text=True, timeout=20, check=False
    )


def test_port_in_use_is_one_line_naming_gateway_port(tmp_path: Path) -> None:
    """A taken port: exit 3, one stderr line naming GATEWAY_PORT and the cause, no traceback."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run_cli({"GATEWAY_PORT": str(port)}, tmp_path)
    assert result.returncode == 3
    assert result.stderr.strip() == (
        f"aiconexus-gateway: GATEWAY_PORT: cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert "listening" not in result.stdout + result.stderr


def test_unwritable_log_file_is_one_line_naming_log_file(tmp_path: Path) -> None:
    """LOG_FILE under a regular file: exit 2, one line naming LOG_FILE and why, no traceback."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    env = {"GATEWAY_PORT": str(free_port()), "LOG_FILE": str(blocker / "gateway.log")}
    result = _run_cli(env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"aiconexus-gateway: LOG_FILE: cannot write {blocker}")
    assert result.stderr.strip().endswith(f"{blocker} is not a directory")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_refusal_log_counts_what_it_leaves_out() -> None:
    """RefusalLog: ``per_second`` lines, then a summary line with the count by code."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("test.refusals")
    logger.propagate = False
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    log = RefusalLog(logger, per_second=3)
    for index in range(7):
        log.note("QUEUE_FULL" if index % 2 else "CLOCK_SKEW", "m", session="s", peer="p")
    assert [r.getMessage() for r in records].count("suppressed") == 0
    log.flush()  # outside an event loop the summary waits for flush()
    assert [r.getMessage() for r in records].count("refused") == 3
    (summary,) = [r for r in records if r.getMessage() == "suppressed"]
    assert summary.__dict__["refusals"] == 4
    assert summary.__dict__["by_code"] == "CLOCK_SKEW:2,QUEUE_FULL:2"
