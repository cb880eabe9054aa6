"""STORAGE_TYPE=sqlite: frames ACKed ``queued`` and replay markers survive a SIGKILL.

A real gateway process, a real database file, a real SIGKILL; the file is also read directly
(WAL mode allows a reader beside the gateway's writer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from support.client import RawClient
from support.gateway import GatewayProcess
from support.inprocess import InProcessGateway
from support.waiting import eventually

from aiconexus.protocol import Identity
from aiconexus_gateway.backend._store_quota import StoreLimits
from aiconexus_gateway.backend.sqlite import SqliteBackend


def _query(db: Path, sql: str) -> object:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute(sql).fetchone()[0]


class _Hooks:
    """The node side of a backend used on its own: records store notices."""

    def __init__(self) -> None:
        self.stored_notices: list[str] = []

    @property
    def node_id(self) -> str:
        return "local"

    def deliver_local(self, recipient: str, frame: str) -> bool:
        return False

    def replaced(self, did: str, session_id: str) -> None:
        return

    def stored_available(self, did: str) -> None:
        self.stored_notices.append(did)


async def _open(path: Path) -> SqliteBackend:
    backend = SqliteBackend(path, store_limits=StoreLimits(per_agent=2))
    await backend.start(_Hooks())
    return backend


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
    with InProcessGateway(env, tmp_path / "gw") as first:
        alice = await RawClient.connect(first.ws_url)
        for _ in range(2):
            await alice.send_message("OFFER", bob.did, {"sdp": "x"})
        assert set((await alice.expect_acks(2)).values()) == {"queued"}
    with InProcessGateway(env, tmp_path / "gw") as second:
        alice = await RawClient.connect(second.ws_url, alice.identity)
        refused = await alice.send_message("OFFER", bob.did, {"sdp": "x"})
        await alice.expect_error("QUEUE_FULL", refused.id)


async def test_held_frames_stay_in_the_file_until_settled(tmp_path: Path) -> None:
    """Held frames leave the bounds, come back first on unhold and at restart; settle deletes."""
    db = tmp_path / "held.db"
    backend = await _open(db)
    try:
        await backend.store("did:r", "one", "did:s")
        await backend.store("did:r", "twö", "did:s")
        await backend.store("did:q", "other", "did:s")
        held = await backend.hold_stored("did:r", include_held=False)
        assert [frame for _, frame in held] == ["one", "twö"]
        assert await backend.stored_count() == 1
        assert await backend.stored_bytes() == len("other")
        assert _query(db, "SELECT COUNT(*) FROM frames WHERE held = 1") == 2
        await backend.store("did:r", "three", "did:s")  # held frames no longer count
        await backend.unhold("did:r", [token for token, _ in held])
        assert await backend.stored_count() == 4
        assert await backend.stored_bytes() == len("one twö three other".encode()) - 3
        again = await backend.hold_stored("did:r", include_held=True)
        assert [frame for _, frame in again] == ["one", "twö", "three"]
        await backend.settle_held("did:r", [token for token, _ in again[:2]])
        assert _query(db, "SELECT COUNT(*) FROM frames WHERE recipient = 'did:r'") == 1
        await backend.store("did:r", "four", "did:s")
    finally:
        await backend.close()
    restarted = await _open(db)  # "three" was never settled: it is stored again, first
    try:
        assert await restarted.stored_count() == 3
        assert [f for _, f in await restarted.hold_stored("did:r", include_held=False)] == [
            "three",
            "four",
        ]
        assert await restarted.take_stored("did:q") == ["other"]
        assert await restarted.stored_count() == 0
        assert await restarted.stored_bytes() == 0
    finally:
        await restarted.close()
