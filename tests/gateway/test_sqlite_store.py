"""STORAGE_TYPE=sqlite: frames ACKed ``queued`` and replay markers survive a SIGKILL.

A real gateway process, a real database file, a real SIGKILL; the file is also read directly
(WAL mode allows a reader beside the gateway's writer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from support.client import RawClient
from support.gateway import GatewayProcess
from support.waiting import eventually

from aiconexus.protocol import Identity


def _query(db: Path, sql: str) -> object:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute(sql).fetchone()[0]


def _kill(gateway: GatewayProcess) -> None:
    process = gateway.process
    assert process is not None
    process.kill()
    process.wait(timeout=10)


async def test_queued_frames_and_replay_markers_survive_sigkill(tmp_path: Path) -> None:
    """SIGKILL after ACK queued / delivered: frames delivered after restart, ids stay used."""
    data_dir = tmp_path / "data"
    env = {"STORAGE_TYPE": "sqlite", "GATEWAY_DATA_DIR": str(data_dir)}
    db = data_dir / "gateway.db"  # SQLITE_PATH defaults to $GATEWAY_DATA_DIR/gateway.db
    first = GatewayProcess(env, tmp_path / "gw").start()
    try:
        assert first.health().json()["backend"] == "sqlite"
        alice = await RawClient.connect(first.ws_url)
        carol = await RawClient.connect(first.ws_url)
        bob = Identity.generate()
        sent = [alice.make("INTENT", bob.did, {"query": str(i)}) for i in range(50)]
        for message in sent:
            await alice.send_text(message.to_json())
        assert await alice.expect_acks(len(sent)) == {m.id: "queued" for m in sent}
        live = await alice.send_message("OFFER", carol.did, {"sdp": "x"})
        assert await carol.recv_text() == live.to_json()
        assert (await alice.expect("ACK")).payload["status"] == "delivered"
        assert _query(db, "PRAGMA journal_mode") == "wal"
        assert _query(db, "SELECT COUNT(*) FROM frames") == len(sent)
        # The marker of a frame delivered live is committed just after it was written.
        await eventually(lambda: _query(db, "SELECT COUNT(*) FROM replay") == len(sent) + 1)
        _kill(first)
    finally:
        first.stop()

    with GatewayProcess(env, tmp_path / "gw") as second:
        receiver = await RawClient.connect(second.ws_url, bob)
        assert receiver.registered is not None
        assert receiver.registered.payload["queued"] == len(sent)
        assert [await receiver.recv_text() for _ in sent] == [m.to_json() for m in sent]
        again = await RawClient.connect(second.ws_url, alice.identity)
        for message in (sent[0], live):
            await again.send_text(message.to_json())
            await again.expect_error("REPLAY_DETECTED", message.id)
        assert _query(db, "SELECT COUNT(*) FROM frames") == 0


async def test_bounds_are_restored_after_a_restart(tmp_path: Path) -> None:
    """The running totals are rebuilt from the file: a full recipient stays full."""
    env = {"STORAGE_TYPE": "sqlite", "SQLITE_PATH": str(tmp_path / "s.db")}
    env["STORE_MAX_PER_AGENT"] = "2"
    bob = Identity.generate()
    with GatewayProcess(env, tmp_path / "gw") as first:
        alice = await RawClient.connect(first.ws_url)
        for _ in range(2):
            await alice.send_message("OFFER", bob.did, {"sdp": "x"})
        assert set((await alice.expect_acks(2)).values()) == {"queued"}
    with GatewayProcess(env, tmp_path / "gw") as second:
        alice = await RawClient.connect(second.ws_url, alice.identity)
        refused = await alice.send_message("OFFER", bob.did, {"sdp": "x"})
        await alice.expect_error("QUEUE_FULL", refused.id)
