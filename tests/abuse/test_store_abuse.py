"""Two attacks on the offline store, shortened: the store stays bounded, others are served.

1. Many small frames, each to a different DID that is not connected: the store fills with
   recipients. The sender that filled it is refused first (QUEUE_FULL), a full store refuses
   without scanning its recipients, and a victim's PING and live frames still get through.
2. Large frames to different offline DIDs from many identities: the process's memory grows
   by no more than the configured byte ceiling (STORE_MAX_BYTES_TOTAL), not by what was sent.

Each runs against a real gateway process with the memory and the SQLite store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.client import RawClient
from support.gateway import Gateway, GatewayProcess

from aiconexus.protocol import Identity, Message

MIB = 1024 * 1024


@pytest.fixture(params=["memory", "sqlite"])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """``start(**env)``: a gateway with the memory or SQLite store and ``env`` settings."""
    started: list[Gateway] = []

    def run(**env: str) -> Gateway:
        full = {"STORAGE_TYPE": request.param, "SQLITE_PATH": str(tmp_path / "s.db"), **env}
        started.append(GatewayProcess(full, tmp_path / f"gw{len(started)}").start())
        return started[-1]

    yield run
    for gateway in started:
        gateway.stop()


async def _blast(client: RawClient, messages: list[Message]) -> Counter[str]:
    """Send every frame, then read one outcome for each: ACK status or ERROR code."""
    for message in messages:
        await client.send_text(message.to_json())
    outcomes: Counter[str] = Counter()
    while sum(outcomes.values()) < len(messages):
        reply = await client.recv()
        if reply.type == "ACK":
            outcomes.update(reply.payload["status"] for _ in reply.payload["ids"])
        else:
            assert reply.type == "ERROR", reply
            outcomes[reply.payload["code"]] += 1
    return outcomes


async def _served(gateway: Gateway) -> None:
    """A victim's PING is answered and its frame to a connected peer is delivered."""
    victim = await RawClient.connect(gateway.ws_url)
    peer = await RawClient.connect(gateway.ws_url)
    await victim.send_message("PING", gateway.did, {"sequence": 1})
    assert (await victim.expect("PONG")).payload.get("sequence") == 1
    sent = await victim.send_message("OFFER", peer.did, {"sdp": "x"})
    assert await peer.recv_text() == sent.to_json()
    assert (await victim.expect("ACK")).payload["status"] == "delivered"


def _rss(gateway: GatewayProcess) -> int:
    assert gateway.process is not None
    status = Path(f"/proc/{gateway.process.pid}/status")
    if not status.exists():
        pytest.skip("needs /proc to read the gateway's resident memory")
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_small_frames_to_many_offline_dids(start: object) -> None:
    """The filler is refused by its own quota; a full store refuses cheaply; others served."""
    gateway = start(STORE_MAX_PER_SENDER="500", STORE_MAX_TOTAL="1500")  # type: ignore[operator]
    attackers = [await RawClient.connect(gateway.ws_url) for _ in range(4)]
    first = attackers[0]
    batch = [first.make("INTENT", Identity.generate().did, {"query": "x"}) for _ in range(600)]
    assert await _blast(first, batch) == {"queued": 500, "QUEUE_FULL": 100}
    await _served(gateway)  # one sender alone cannot fill the store
    for attacker in attackers[1:3]:
        batch = [
            attacker.make("INTENT", Identity.generate().did, {"query": "x"}) for _ in range(500)
        ]
        assert await _blast(attacker, batch) == {"queued": 500}
    # Full: every further frame is refused, each without a walk over the 1,500 recipients
    # (test_store_quota shows the same at 50,000 recipients).
    last = attackers[3]
    batch = [last.make("INTENT", Identity.generate().did, {"query": "x"}) for _ in range(1500)]
    assert await _blast(last, batch) == {"QUEUE_FULL": 1500}
    await _served(gateway)


async def test_large_frames_stay_under_the_byte_ceiling(start: object) -> None:
    """80 MB of 250 kB frames to offline DIDs: memory grows by at most the 8 MiB ceiling.

    Plus an allowance of 24 MiB for the process's own buffers (receiving, parsing and
    verifying 250 kB frames; measured ~13 MiB). Without the byte bounds it grows by ~80 MB.
    """
    ceiling, allowance = 8 * MIB, 24 * MIB
    gateway = start(  # type: ignore[operator]
        STORE_MAX_BYTES_TOTAL=str(ceiling),
        STORE_MAX_BYTES_PER_SENDER=str(2 * MIB),
        # the store's bound alone: the address's byte budget would refuse most of it first
        RATE_LIMIT_BYTES_PER_S_PER_IP="0",
    )
    await _served(gateway)
    before = _rss(gateway)
    outcomes: Counter[str] = Counter()
    for _ in range(20):
        attacker = await RawClient.connect(gateway.ws_url)
        big = {"sdp": "x" * 250_000}
        batch = [attacker.make("OFFER", Identity.generate().did, big) for _ in range(16)]
        outcomes += await _blast(attacker, batch)
        await attacker.close()
    grown = _rss(gateway) - before
    assert outcomes["queued"] * 250_000 <= ceiling
    assert outcomes["QUEUE_FULL"] >= 320 - ceiling // 250_000
    assert grown < ceiling + allowance, f"resident memory grew by {grown / MIB:.0f} MiB"
    await _served(gateway)
