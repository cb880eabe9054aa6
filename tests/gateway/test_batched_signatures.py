"""Signatures verified in batches off the loop: the same verdicts, ERRORs and order as inline.

A real gateway on loopback, once with GATEWAY_CRYPTO_THREADS=0 (inline) and once with 2
(per-turn batches on two threads, native when installed): several senders each send a burst
of valid frames interleaved with forged ones and replays, without waiting, so that frames of
one connection share batches. Every frame gets the same answer from both, and receivers get
the valid frames in the order they were sent.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from support.client import RawClient
from support.starter import StartGateway

from aiconexus.protocol import Identity, b64url_encode
from aiconexus_gateway.guards.batch_verify import (
    AsyncBatchVerifier,
    BatchVerifier,
    PerTurnVerifier,
)
from aiconexus_gateway.guards.signatures import default_threads
from aiconexus_gateway.routing.pipeline import PIPELINE_DEPTH, pipeline_depth

SENDERS = 3
FRAMES = 36  # per sender, in the cycle of _burst


def _burst(sender: RawClient, recipient: str) -> tuple[list[str], list[str], Counter[Any]]:
    """(frames to send, valid frames in order, expected answers as (id, outcome) counts).

    A cycle of six: valid; payload changed after signing; valid; the same frame again
    (replay); signed by another key; valid.
    """
    stranger = Identity.generate()
    texts: list[str] = []
    valid: list[str] = []
    expected: Counter[Any] = Counter()
    for index in range(FRAMES):
        step = index % 6
        message = sender.make("INTENT", recipient, {"query": f"q{index}"})
        text = message.to_json()
        if step == 1:
            data = json.loads(text)
            data["payload"]["query"] = "changed after signing"
            text = json.dumps(data)
            expected[(message.id, "INVALID_SIGNATURE")] += 1
        elif step == 3:
            text = valid[-1]
            expected[(json.loads(text)["id"], "REPLAY_DETECTED")] += 1
        elif step == 4:
            data = json.loads(text)
            data["signature"] = b64url_encode(stranger.sign(b"not this frame"))
            text = json.dumps(data)
            expected[(message.id, "INVALID_SIGNATURE")] += 1
        else:
            valid.append(text)
            expected[(message.id, "delivered")] += 1
        texts.append(text)
    return texts, valid, expected


async def _answers(sender: RawClient, count: int) -> Counter[Any]:
    """(id, ACK status or ERROR code) of the next ``count`` answers."""
    got: Counter[Any] = Counter()
    while sum(got.values()) < count:
        reply = await sender.recv()
        if reply.type == "ACK":
            for message_id in reply.payload["ids"]:
                got[(message_id, reply.payload["status"])] += 1
        else:
            assert reply.type == "ERROR", reply
            got[(reply.correlation_id, reply.payload["code"])] += 1
    return got


async def _run(start_gateway: StartGateway, threads: int) -> dict[str, Any]:
    """One gateway with ``threads``: every sender's answers and every receiver's frames."""
    gateway = start_gateway(gateway_crypto_threads=threads)
    receivers = [await RawClient.connect(gateway.ws_url) for _ in range(SENDERS)]
    senders = [await RawClient.connect(gateway.ws_url) for _ in range(SENDERS)]
    plans = [_burst(s, r.did) for s, r in zip(senders, receivers, strict=True)]

    async def send_all(sender: RawClient, texts: list[str]) -> None:
        for text in texts:
            await sender.send_text(text)

    await asyncio.gather(*(send_all(s, p[0]) for s, p in zip(senders, plans, strict=True)))
    answers = await asyncio.gather(*(_answers(s, FRAMES) for s in senders))
    received = await asyncio.gather(
        *(
            asyncio.gather(*[r.recv_text() for _ in plan[1]])
            for r, plan in zip(receivers, plans, strict=True)
        )
    )
    for sender, plan, got in zip(senders, plans, answers, strict=True):
        assert got == plan[2], sender.did  # the answer each frame should get, once
    for plan, frames in zip(plans, received, strict=True):
        assert list(frames) == plan[1]  # the valid frames, in the order they were sent
    signatures = gateway.health().json()["signatures"]
    return {"answers": answers, "signatures": signatures}


async def test_batched_verdicts_and_order_equal_inline(start_gateway: StartGateway) -> None:
    """Valid, forged and replayed frames from 3 connections: batched answers equal inline."""
    inline = await _run(start_gateway, 0)
    batched = await _run(start_gateway, 2)
    assert inline["signatures"]["verifier"] == "inline"
    assert batched["signatures"]["verifier"] in ("native", "pynacl")
    assert batched["signatures"]["threads"] == 2
    # every frame reached verification (replays are refused after it): in batches, or on the
    # loop for a turn of at most two while the threads were idle
    counted = batched["signatures"]["batched_items"] + batched["signatures"]["inline_items"]
    assert counted == SENDERS * FRAMES
    assert batched["signatures"]["batches"] <= SENDERS * FRAMES
    strip = [
        Counter(code for (_id, code), n in a.items() for _ in range(n)) for a in inline["answers"]
    ]
    assert strip == [
        Counter(code for (_id, code), n in a.items() for _ in range(n)) for a in batched["answers"]
    ]


async def test_verdicts_come_back_in_call_order() -> None:
    """A heavy batch handed over first and a light one after: verdicts resolve in call order."""
    key = Identity.generate()
    heavy = b"h" * 512 * 1024
    light = b"l"
    resolved: list[str] = []
    async with AsyncBatchVerifier(BatchVerifier(), workers=2) as pool:
        per_turn = PerTurnVerifier(pool)
        first = [per_turn.submit(key.public_key, heavy, key.sign(heavy)) for _ in range(32)]
        await asyncio.sleep(0)  # the first batch leaves in this turn
        second = per_turn.submit(key.public_key, light, key.sign(light))
        first[-1].add_done_callback(lambda _: resolved.append("heavy"))
        second.add_done_callback(lambda _: resolved.append("light"))
        assert await asyncio.gather(*first, second) == [True] * 33
    assert per_turn.batches == 2
    assert resolved == ["heavy", "light"]


def test_pipeline_depth_is_earned() -> None:
    """Doubles while frames pass, up to PIPELINE_DEPTH; back to one during a refusal streak."""
    depth = 1
    seen = []
    for _ in range(8):
        depth = pipeline_depth(depth, 0)
        seen.append(depth)
    assert seen[:3] == [2, 4, 8] and seen[-1] == PIPELINE_DEPTH
    assert pipeline_depth(PIPELINE_DEPTH, 1) == 1


def test_signatures_are_verified_inline_unless_asked() -> None:
    """Unset GATEWAY_CRYPTO_THREADS: inline (batching did not pay on 2 cores, see the docs)."""
    assert default_threads() == 0
