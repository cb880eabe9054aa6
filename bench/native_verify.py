"""Ed25519 verifies/s: PyNaCl on one core against the native batch verifier on 1 and N threads.

Every line verifies the same pre-signed ~400-byte messages (64 keys) in batches of
``--batch`` items and shows verifies/s, the ratio to PyNaCl on one core measured in the same
run, the CPU this process used as cores busy (CPU seconds / wall seconds; a line on N threads
that scales shows ~N cores busy, on a machine with N idle cores) and CPU microseconds per
verify. The variants take turns in ``ROUNDS`` rounds so a
change of the machine's load falls on all alike. Lines:

- PyNaCl, 1 thread (the baseline: the protocol core's ``verify_ed25519`` per item)
- native batch, 1 thread (``BatchVerifier.verify_many``, one C call per batch)
- native batch, N threads (N = cores; each thread loops over its own batches)
- native batch, AsyncBatchVerifier (an event loop keeps N batches in flight on the pool)
- PyNaCl, N threads (the fallback on the same pool shape, for comparison)
- the share of a native verify's CPU spent in Python with the GIL held (outside the C call):
  the serial part that bounds the N-thread lines on N idle cores

Usage: ``python bench/native_verify.py [--quick] [--batch 256]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nacl.signing import SigningKey

from aiconexus.protocol.ed25519 import verify_ed25519
from aiconexus_gateway.guards.batch_verify import (
    AsyncBatchVerifier,
    BatchVerifier,
    Item,
    default_workers,
    native_available,
)

__all__ = ["compare", "main"]

ROUNDS = 4
"""Turns each variant takes; each turn verifies a quarter of its items."""


@dataclass
class Side:
    """One variant: verifies, wall seconds and process CPU seconds, summed over its rounds."""

    name: str
    run: Callable[[int], int]  # verifies about that many, returns how many it did
    verifies: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        """Verifies per second."""
        return self.verifies / self.seconds

    @property
    def cpu_us_per_verify(self) -> float:
        """CPU microseconds of this process per verify (Python's share included)."""
        return 1e6 * self.cpu_s / self.verifies

    @property
    def cores_busy(self) -> float:
        """CPU seconds of this process per wall second."""
        return self.cpu_s / self.seconds


def _items(batch: int) -> list[Item]:
    keys = [SigningKey.generate() for _ in range(64)]
    items = []
    for n in range(batch):
        key = keys[n % len(keys)]
        message = os.urandom(400)
        items.append((bytes(key.verify_key), message, key.sign(message).signature))
    return items


def _variants(items: list[Item], threads: int) -> list[Side]:
    batch = len(items)

    def batches(count: int) -> int:
        return max(1, count // batch)

    def pynacl_one(count: int) -> int:
        for _ in range(batches(count)):
            for item in items:
                assert verify_ed25519(*item)
        return batches(count) * batch

    def on_threads(work: Callable[[int], int]) -> Callable[[int], int]:
        def run(count: int) -> int:
            done = [0] * threads

            def one(index: int) -> None:
                done[index] = work(count // threads)

            workers = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            return sum(done)

        return run

    sides = [Side("PyNaCl, 1 thread (baseline)", pynacl_one)]
    if native_available():
        native = BatchVerifier(backend="native")

        def native_one(count: int) -> int:
            for _ in range(batches(count)):
                assert all(native.verify_many(items))
            return batches(count) * batch

        def native_pool(count: int) -> int:
            rounds = max(1, batches(count) // threads)

            async def drive() -> None:
                async with AsyncBatchVerifier(native, workers=threads) as pool:
                    for _ in range(rounds):
                        verdicts = await asyncio.gather(
                            *(pool.verify_many(items) for _ in range(threads))
                        )
                        assert all(all(v) for v in verdicts)

            asyncio.run(drive())
            return rounds * threads * batch

        sides += [
            Side("native batch, 1 thread", native_one),
            Side(f"native batch, {threads} threads", on_threads(native_one)),
            Side(f"native batch, AsyncBatchVerifier x{threads}", native_pool),
        ]
    sides.append(Side(f"PyNaCl, {threads} threads", on_threads(pynacl_one)))
    return sides


def gil_share(items: list[Item], repeats: int) -> tuple[float, float]:
    """CPU us per item of ``verify_many`` in all, and of its part outside C (the GIL held).

    The C part is timed by calling ``aiconexus_native.verify_batch`` on buffers built once;
    thread CPU time, so the machine's load hardly matters.
    """
    import aiconexus_native

    verifier = BatchVerifier(backend="native")
    keys, messages, signatures = (b"".join(part) for part in zip(*items, strict=True))
    lengths = [len(message) for _, message, _ in items]
    whole = c_only = 0.0
    for _ in range(repeats):
        cpu = time.thread_time()
        verifier.verify_many(items)
        whole += time.thread_time() - cpu
        cpu = time.thread_time()
        aiconexus_native.verify_batch(keys, signatures, messages, lengths)
        c_only += time.thread_time() - cpu
    per_item = 1e6 / (repeats * len(items))
    return whole * per_item, max(0.0, whole - c_only) * per_item


def compare(verifies: int, batch: int = 256, threads: int | None = None) -> dict[str, float]:
    """Run every line for ``verifies`` verifies each, print them, return the figures."""
    threads = threads or default_workers()
    items = _items(batch)
    sides = _variants(items, threads)
    share = max(batch * threads, verifies // ROUNDS)
    for _ in range(ROUNDS):
        for side in sides:
            cpu, start = time.process_time(), time.perf_counter()
            side.verifies += side.run(share)
            side.seconds += time.perf_counter() - start
            side.cpu_s += time.process_time() - cpu
    baseline = sides[0].rate
    if not native_available():
        print("native verifier: not compiled (make system-deps, then make install)", flush=True)
    for side in sides:
        print(
            f"{side.name:<40} {side.rate:>9,.0f} verifies/s  x{side.rate / baseline:4.2f}"
            f"  CPU {side.cores_busy:4.2f} cores, {side.cpu_us_per_verify:5.1f} us/verify",
            flush=True,
        )
    figures = {"pynacl_one_thread_per_s": round(baseline, 1)}
    if native_available():
        figures.update(
            native_one_thread_per_pynacl=round(sides[1].rate / baseline, 3),
            native_threads_per_pynacl=round(sides[2].rate / baseline, 3),
            native_threads_cores_busy=round(sides[2].cores_busy, 2),
            native_one_thread_cores_busy=round(sides[1].cores_busy, 2),
            native_cpu_us_per_verify=round(sides[1].cpu_us_per_verify, 1),
            pynacl_cpu_us_per_verify=round(sides[0].cpu_us_per_verify, 1),
            native_async_pool_per_pynacl=round(sides[3].rate / baseline, 3),
        )
    figures["pynacl_threads_per_pynacl"] = round(sides[-1].rate / baseline, 3)
    if native_available():
        whole, held = gil_share(items, max(4, verifies // batch // 4))
        held_share = held / whole
        print(
            f"{'GIL held per native verify':<40} {held:9.2f} of {whole:.1f} us ({held_share:.1%}):"
            f" {threads} threads can reach x{threads / (1 + (threads - 1) * held_share):.2f}"
            " of one thread (Amdahl)",
            flush=True,
        )
        figures["native_gil_held_share"] = round(held_share, 4)
    return figures


def main() -> int:
    """Parse the arguments and print the lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run: checks that it works")
    parser.add_argument("--batch", type=int, default=256, help="items per batch")
    parser.add_argument("--threads", type=int, help="threads of the N-thread lines (cores)")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  batch: {args.batch}")
    compare(4_000 if args.quick else 40_000, args.batch, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
