"""Settings that change checks and output: signatures, DIDs, skew, heartbeat, log level, CLI.

VERIFY_SIGNATURES, VALIDATE_DIDS, CLOCK_SKEW, HEARTBEAT_INTERVAL (announced in REGISTERED),
LOG_LEVEL, and the --host/--port options of the console script.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.client import RawClient, forge
from support.gateway import GatewayProcess
from support.ports import free_port
from support.starter import StartGateway, StartGatewayProcess

from aiconexus.protocol import format_timestamp


async def test_verify_signatures_off_routes_unverified_frames(start_gateway: StartGateway) -> None:
    """VERIFY_SIGNATURES=false: a frame with a bad signature is routed; REGISTER still checked."""
    gw = start_gateway(verify_signatures=False)
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    data = json.loads(alice.make("OFFER", bob.did, {"sdp": "signed"}).to_json())
    data["payload"]["sdp"] = "changed after signing"
    text = json.dumps(data)
    await alice.send_text(text)
    assert await bob.recv_text() == text
    assert (await alice.expect("ACK")).payload["status"] == "delivered"
    intruder = await RawClient.open(gw.ws_url)
    await intruder.read_challenge()
    register = json.loads(intruder.register_message().to_json())
    register["payload"]["capabilities"] = ["sneaky"]
    await intruder.send_text(json.dumps(register))
    await intruder.expect_error("INVALID_SIGNATURE")
    assert await intruder.closed() == 1008


async def test_validate_dids_off_routes_by_string(start_gateway: StartGateway) -> None:
    """VALIDATE_DIDS=false: `to` need not be a did:key (stored for it by name); true refuses."""
    gw = start_gateway(validate_dids=False)
    alice = await RawClient.connect(gw.ws_url)
    sent = await alice.send_message("OFFER", "agent-bob", {"sdp": "x"})
    ack = await alice.expect("ACK")
    assert ack.correlation_id == sent.id and ack.payload["status"] == "queued"
    strict = start_gateway()
    carol = await RawClient.connect(strict.ws_url)
    refused = await carol.send_message("OFFER", "agent-bob", {"sdp": "x"})
    await carol.expect_error("MALFORMED_MESSAGE", refused.id)


async def test_clock_skew_setting(start_gateway: StartGateway) -> None:
    """CLOCK_SKEW=5: a frame 30 s old is refused, one 2 s old is routed."""
    gw = start_gateway(clock_skew=5)
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    now = datetime.now(UTC)
    old = forge(
        alice.identity,
        to=bob.did,
        payload={"sdp": "x"},
        timestamp=format_timestamp(now - timedelta(seconds=30)),
    )
    await alice.send_text(old)
    await alice.expect_error("CLOCK_SKEW", json.loads(old)["id"])
    recent = forge(
        alice.identity,
        to=bob.did,
        payload={"sdp": "x"},
        timestamp=format_timestamp(now - timedelta(seconds=2)),
    )
    await alice.send_text(recent)
    assert await bob.recv_text() == recent


async def test_heartbeat_interval_is_announced(start_gateway: StartGateway) -> None:
    """REGISTERED.heartbeat_interval_s is HEARTBEAT_INTERVAL."""
    gw = start_gateway(heartbeat_interval=2.5)
    client = await RawClient.connect(gw.ws_url)
    assert client.registered is not None
    assert client.registered.payload["heartbeat_interval_s"] == 2.5


async def test_log_level_warning_hides_connection_events(
    start_gateway_process: StartGatewayProcess,
) -> None:
    """LOG_LEVEL=WARNING: no INFO connection lines are written."""
    gw = start_gateway_process(log_level="WARNING")
    client = await RawClient.connect(gw.ws_url)
    await client.close()
    gw.stop()
    assert "registered did=" not in gw.log()
    assert "connect peer=" not in gw.log()


def test_cli_options_override_environment(tmp_path: Path) -> None:
    """--host/--port win over GATEWAY_HOST/GATEWAY_PORT; the start line names them."""
    port = free_port()
    env = {"STORAGE_TYPE": "memory", "GATEWAY_HOST": "localhost", "GATEWAY_PORT": "1"}
    args = ("--host", "127.0.0.1", "--port", str(port))
    with GatewayProcess(env, tmp_path, args=args, port=port) as process:
        assert process.health().status_code == 200
        text = process.wait_for_log(f"listening url=ws://127.0.0.1:{port}/ws")
        assert "backend=memory" in text


async def test_crypto_threads_route_and_reject(start_gateway: StartGateway) -> None:
    """GATEWAY_CRYPTO_THREADS=2: signatures verified in batches on threads, the same results."""
    gw = start_gateway(gateway_crypto_threads=2)
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    sent = [alice.make("INTENT", bob.did, {"query": str(i)}) for i in range(100)]
    for message in sent:
        await alice.send_text(message.to_json())
    assert [await bob.recv_text() for _ in sent] == [m.to_json() for m in sent]
    acks = await alice.expect_acks(len(sent))
    assert set(acks) == {m.id for m in sent}
    data = json.loads(alice.make("OFFER", bob.did, {"sdp": "x"}).to_json())
    data["payload"]["sdp"] = "tampered"
    await alice.send_text(json.dumps(data))
    await alice.expect_error("INVALID_SIGNATURE", data["id"])
