"""Session life: replacement, slow consumers, liveness, connection limit, shutdown, gateway key."""

from __future__ import annotations

import asyncio
import signal
import socket
import stat
from pathlib import Path

import pytest
from support.client import RawClient
from support.gateway import Gateway
from support.starter import StartGateway, StartGatewayProcess
from support.waiting import eventually
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from aiconexus.protocol import Identity, Message


def _dids(gw: Gateway) -> list[str]:
    return [agent["did"] for agent in gw.agents()]


async def test_second_register_replaces_the_session(gateway: Gateway) -> None:
    """Same DID registers again: old connection closed with 4000, frames go to the new one."""
    alice = await RawClient.connect(gateway.ws_url)
    bob = Identity.generate()
    old = await RawClient.connect(gateway.ws_url, bob)
    new = await RawClient.connect(gateway.ws_url, bob)
    assert await old.closed() == 4000
    sent = await alice.send_message("OFFER", bob.did, {"sdp": "to the new one"})
    assert await new.recv_text() == sent.to_json()
    assert (await alice.expect("ACK")).payload["status"] == "delivered"
    assert _dids(gateway).count(bob.did) == 1
    gateway.wait_for_log(f"disconnected reason=replaced did={bob.did}")


async def test_slow_consumer_is_closed_and_nothing_is_lost(start_gateway: StartGateway) -> None:
    """A recipient that stops reading: closed 1013, sender never blocked, every frame arrives once.

    Frames written before the close reach the old connection (ACK delivered) when it reads
    again within CLOSE_TIMEOUT; the rest are stored in order (ACK queued) and delivered after
    the next REGISTERED.
    """
    gw = start_gateway(send_queue_size=8, close_timeout=30, rate_limit_bytes_per_s=0)  # 30 MB
    alice = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    stalled = await RawClient.connect(gw.ws_url, bob, max_queue=1)
    blob = "x" * 100_000
    sent = [alice.make("OFFER", bob.did, {"sdp": f"{i} {blob}"}) for i in range(300)]
    acks: dict[str, str] = {}

    async def read_acks() -> None:
        while len(acks) < len(sent):
            ack = await alice.expect("ACK", within=30)
            for message_id in ack.payload["ids"]:
                assert message_id not in acks
                acks[message_id] = ack.payload["status"]

    reader = asyncio.create_task(read_acks())
    for message in sent:
        await alice.send_text(message.to_json())
    # Reading again within CLOSE_TIMEOUT: the frames written so far, then the close frame.
    await asyncio.to_thread(
        gw.wait_for_log, f"disconnected reason='slow consumer' did={bob.did}", 30
    )
    old_frames: list[str] = []
    try:
        async with asyncio.timeout(30):
            while True:
                old_frames.append(await stalled.recv_text(within=30))
    except ConnectionClosed:
        pass
    assert stalled.close_code == 1013
    await asyncio.wait_for(reader, 30)
    texts = [m.to_json() for m in sent]
    assert old_frames == texts[: len(old_frames)]
    assert [acks[m.id] for m in sent[: len(old_frames)]] == ["delivered"] * len(old_frames)
    rest = sent[len(old_frames) :]
    assert rest and [acks[m.id] for m in rest] == ["queued"] * len(rest)
    again = await RawClient.connect(gw.ws_url, bob)
    assert again.registered is not None
    assert again.registered.payload["queued"] == len(rest)
    assert [await again.recv_text() for _ in rest] == texts[len(old_frames) :]
    gw.wait_for_log(f"disconnected reason='slow consumer' did={bob.did}")


def _deaf_agent(port: int, identity: Identity) -> socket.socket:
    """Register over a raw socket, then never read again (so WebSocket pings go unanswered)."""
    protocol = ClientProtocol(
        parse_uri(f"ws://127.0.0.1:{port}/ws"), subprotocols=[Subprotocol("ioap.v1")]
    )
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    protocol.send_request(protocol.connect())

    def next_text() -> str:
        while True:
            sock.sendall(b"".join(protocol.data_to_send()))
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    return bytes(event.data).decode()
            protocol.receive_data(sock.recv(65536))

    challenge = Message.parse(next_text())
    register = Message.create(
        identity, "REGISTER", challenge.from_, {"nonce": challenge.payload["nonce"]}
    )
    protocol.send_text(register.to_json().encode())
    assert Message.parse(next_text()).type == "REGISTERED"
    return sock


async def test_dead_connection_is_dropped_but_quiet_agent_stays(
    start_gateway: StartGateway,
) -> None:
    """AGENT_TIMEOUT: a peer not answering pings leaves; a silent but live one stays present."""
    gw = start_gateway(agent_timeout=1, heartbeat_interval=0.25)
    quiet = await RawClient.connect(gw.ws_url)
    deaf_identity = Identity.generate()
    deaf = await asyncio.to_thread(_deaf_agent, gw.port, deaf_identity)
    try:
        assert deaf_identity.did in _dids(gw)
        await eventually(lambda: deaf_identity.did not in _dids(gw), within=10)
        await asyncio.sleep(2.0)  # twice AGENT_TIMEOUT without a single frame from `quiet`
        assert quiet.did in _dids(gw)
        other = await RawClient.connect(gw.ws_url)
        sent = await other.send_message("INTENT", quiet.did, {"query": "still here?"})
        assert await quiet.recv_text() == sent.to_json()
    finally:
        deaf.close()


async def test_connection_limit(start_gateway: StartGateway) -> None:
    """MAX_CONNECTIONS=2: a third connection is closed 1013 "CONNECTION_REFUSED: ...", no frame."""
    gw = start_gateway(max_connections=2)
    alice = await RawClient.connect(gw.ws_url)
    bob = await RawClient.connect(gw.ws_url)
    third = await RawClient.open(gw.ws_url)
    with pytest.raises(ConnectionClosed):
        await third.ws.recv()
    assert third.close_code == 1013
    assert third.close_reason == "CONNECTION_REFUSED: gateway is at MAX_CONNECTIONS"
    sent = await alice.send_message("OFFER", bob.did, {"sdp": "x"})
    assert await bob.recv_text() == sent.to_json()
    await bob.close()
    await eventually(lambda: gw.health().json()["connections"] == 1)
    await (await RawClient.connect(gw.ws_url)).close()


async def test_sigterm_closes_sessions_with_1001(
    start_gateway_process: StartGatewayProcess,
) -> None:
    """SIGTERM: every session is closed with 1001 and the process exits 0."""
    gw = start_gateway_process()
    clients = [await RawClient.connect(gw.ws_url) for _ in range(3)]
    assert gw.process is not None
    gw.process.send_signal(signal.SIGTERM)
    for client in clients:
        assert await client.closed() == 1001
    assert await asyncio.to_thread(gw.process.wait, 10) == 0


async def test_gateway_key_survives_restart(start_gateway: StartGateway, tmp_path: Path) -> None:
    """Same key file, same DID after a restart; the file is created 0600 in a new directory."""
    key_file = tmp_path / "keys" / "nested" / "gateway.key"
    first = start_gateway(gateway_key_file=key_file)
    did = first.did
    first.stop()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = start_gateway(gateway_key_file=key_file)
    assert second.did == did
    client = await RawClient.open(second.ws_url)
    assert (await client.read_challenge()).from_ == did


async def test_connection_events_are_logged_without_payloads(
    start_gateway_process: StartGatewayProcess, tmp_path: Path
) -> None:
    """One INFO line per connect, registered and disconnect (with its reason); no payloads."""
    log_file = tmp_path / "logs" / "gateway.log"
    gw = start_gateway_process(log_file=log_file)
    alice = await RawClient.connect(gw.ws_url)
    bob = Identity.generate()
    first = await RawClient.connect(gw.ws_url, bob)
    await RawClient.connect(gw.ws_url, bob)
    assert await first.closed() == 4000
    await alice.send_message("OFFER", bob.did, {"sdp": "secret-payload-text"})
    await alice.expect("ACK")
    await alice.send_message("UNREGISTER", alice.gateway_did, {})
    await alice.closed()
    gw.wait_for_log(f"disconnected reason=unregistered did={alice.did}")
    await RawClient.close_all()
    text = gw.wait_for_log(f"disconnected reason=disconnected did={bob.did}")
    assert "connect peer=" in text and f"registered did={bob.did}" in text
    ends = [line for line in text.splitlines() if " disconnected reason=" in line]
    assert [line.split()[5] for line in ends if f"did={alice.did}" in line] == [
        "reason=unregistered"
    ]
    assert [line.split()[5] for line in ends if f"did={bob.did}" in line] == [
        "reason=replaced",
        "reason=disconnected",
    ]
    assert "code=4000" in next(line for line in ends if "reason=replaced" in line)
    assert "secret-payload-text" not in text
    assert f"registered did={bob.did}" in log_file.read_text()


async def test_worker_processes_share_agents(start_gateway_process: StartGatewayProcess) -> None:
    """GATEWAY_WORKERS=2 (Redis only): agents on either worker reach each other, logs kept."""
    probe = start_gateway_process()
    if probe.health().json()["backend"] != "redis":
        pytest.skip("several workers need STORAGE_TYPE=redis (refusal tested in test_settings)")
    probe.stop()
    gw = start_gateway_process(gateway_workers=2)
    clients = [await RawClient.connect(gw.ws_url) for _ in range(6)]
    assert gw.process is not None
    assert len(_children(gw.process.pid, "multiprocessing-fork")) == 2  # uvicorn's workers
    for sender in clients:
        for receiver in clients:
            if sender is not receiver:
                sent = await sender.send_message("OFFER", receiver.did, {"sdp": "x"})
                assert await receiver.recv_text() == sent.to_json()
                assert (await sender.expect("ACK")).payload["status"] == "delivered"
    gw.wait_for_log(f"registered did={clients[-1].did}")


def _children(pid: int, marker: str) -> list[int]:
    """Process ids whose parent is ``pid`` and whose command line holds ``marker``."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and marker in command:
                children.append(int(entry.name))
    return children
