"""Per-address budgets: every DID of one address shares RATE_LIMIT_*_PER_S_PER_IP.

An attacker can make DIDs for free; a per-DID limit alone lets twenty of them from one
address send twenty times the limit. The address's bucket refuses what the DIDs' own
buckets would let through, with RATE_LIMITED and ``details.limit`` = ``"address"``.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from support.client import RawClient
from support.starter import StartGateway

from aiconexus.protocol import Message


async def _answers(client: RawClient, count: int) -> list[Message]:
    return [await client.recv() for _ in range(count)]


async def _burst(url: str, senders: int, frames: int, payload: dict[str, str]) -> Counter[str]:
    """``senders`` DIDs each send ``frames`` PINGs at once; answers by PONG / limit."""
    clients = [await RawClient.connect(url) for _ in range(senders)]
    for client in clients:
        for _ in range(frames):
            await client.send_message("PING", client.gateway_did, payload)
    outcomes: Counter[str] = Counter()
    for answers in await asyncio.gather(*(_answers(c, frames) for c in clients)):
        for answer in answers:
            if answer.type == "PONG":
                outcomes["PONG"] += 1
            else:
                assert answer.payload["code"] == "RATE_LIMITED", answer.payload
                details = answer.payload["details"]
                assert details["retry_after_ms"] >= 1, details
                outcomes[details["limit"]] += 1
    return outcomes


async def test_many_dids_of_one_address_share_its_frame_budget(
    start_gateway: StartGateway,
) -> None:
    """20 DIDs x 40 PINGs, per-DID 50/s, per-address 100/s (1 s burst): about 100 pass."""
    gateway = start_gateway(
        rate_limit_frames_per_s=50,
        rate_limit_frames_per_s_per_ip=100,
        rate_limit_burst_s=1,
        errors_per_s=0,
        max_registrations_per_ip_per_minute=0,
    )
    outcomes = await _burst(gateway.ws_url, senders=20, frames=40, payload={})
    assert outcomes["PONG"] + outcomes["address"] == 800, outcomes
    assert 100 <= outcomes["PONG"] <= 250, outcomes  # the burst, plus what refills meanwhile
    assert outcomes["agent"] == 0, outcomes


async def test_many_dids_of_one_address_share_its_byte_budget(
    start_gateway: StartGateway,
) -> None:
    """5 DIDs x 10 PINGs of ~2 KB against 20 KB/s per address: most are refused."""
    gateway = start_gateway(
        rate_limit_bytes_per_s_per_ip=20_000,
        rate_limit_frames_per_s_per_ip=0,
        rate_limit_burst_s=1,
        errors_per_s=0,
    )
    outcomes = await _burst(gateway.ws_url, senders=5, frames=10, payload={"pad": "x" * 2000})
    assert outcomes["address"] >= 25, outcomes
    assert outcomes["PONG"] >= 5, outcomes


async def test_per_address_limits_off(start_gateway: StartGateway) -> None:
    """0 turns both off: only the per-DID limit (off here too) applies."""
    gateway = start_gateway(
        rate_limit_frames_per_s=0,
        rate_limit_bytes_per_s=0,
        rate_limit_frames_per_s_per_ip=0,
        rate_limit_bytes_per_s_per_ip=0,
    )
    outcomes = await _burst(gateway.ws_url, senders=4, frames=50, payload={})
    assert outcomes == Counter({"PONG": 200})
