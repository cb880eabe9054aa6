"""BatchVerifier and AsyncBatchVerifier: mixed batches, bounds, backends, the fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from nacl.signing import SigningKey

from aiconexus_gateway.guards.batch_verify import (
    DEFAULT_MAX_ITEMS,
    AsyncBatchVerifier,
    BatchTooHeavyError,
    BatchTooLargeError,
    BatchVerifier,
    BatchVerifyError,
    MessageTooLongError,
    native_available,
)

NATIVE = pytest.mark.skipif(
    not native_available(),
    reason="native verifier not compiled (libsodium-dev missing at make install)",
)
BACKENDS = [pytest.param("native", marks=NATIVE), "pynacl"]


def _mixed_batch() -> tuple[list[tuple[bytes, bytes, bytes]], list[bool]]:
    """Good and bad items interleaved: forged, wrong key, tampered, short, long, empty."""
    keys = [SigningKey(bytes([n]) * 32) for n in range(1, 5)]
    items: list[tuple[bytes, bytes, bytes]] = []
    expected: list[bool] = []
    for n in range(40):
        key = keys[n % len(keys)]
        public = bytes(key.verify_key)
        message = os.urandom(n * 7)
        signature = key.sign(message).signature
        kind = n % 8
        if kind == 1:  # a bit of the signature flipped
            signature = bytes([signature[0] ^ 1]) + signature[1:]
        elif kind == 2:  # signed by another key
            public = bytes(keys[(n + 1) % len(keys)].verify_key)
        elif kind == 3:  # the message changed
            message += b"!"
        elif kind == 4:  # a signature one byte short
            signature = signature[:63]
        elif kind == 5:  # a key one byte long
            public += b"\x00"
        items.append((public, message, signature))
        expected.append(kind in (0, 6, 7))
    return items, expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_good_and_bad_items(backend: str) -> None:
    """Each verdict belongs to its own item, malformed items in between included."""
    items, expected = _mixed_batch()
    assert True in expected and False in expected
    assert BatchVerifier(backend=backend).verify_many(items) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_malformed(backend: str) -> None:
    """A batch whose every key or signature has a wrong length: all invalid, no error."""
    items = [(b"k" * 31, b"m", b"s" * 64), (b"k" * 32, b"m", b"")]
    assert BatchVerifier(backend=backend).verify_many(items) == [False, False]  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend: str) -> None:
    """No items, no verdicts."""
    assert BatchVerifier(backend=backend).verify_many([]) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bounds_refuse_the_whole_batch(backend: str) -> None:
    """Too many items, one message too long, or too many bytes: a precise error each."""
    items, _ = _mixed_batch()
    verifier = BatchVerifier(
        backend=backend,  # type: ignore[arg-type]
        max_items=10,
        max_message_bytes=100,
        max_total_bytes=300,
    )
    with pytest.raises(BatchTooLargeError) as large:
        verifier.verify_many(items)
    assert (large.value.count, large.value.limit, large.value.code) == (40, 10, "batch_too_large")
    assert str(large.value) == "batch of 40 items is over the limit of 10"
    with pytest.raises(MessageTooLongError) as long:
        verifier.verify_many([*items[:2], (items[0][0], b"x" * 101, items[0][2])])
    assert (long.value.index, long.value.length, long.value.limit) == (2, 101, 100)
    assert str(long.value) == "message of item 2 is 101 bytes, over the limit of 100"
    heavy = [(items[0][0], b"x" * 100, items[0][2])] * 4
    with pytest.raises(BatchTooHeavyError) as total:
        verifier.verify_many(heavy)
    assert (total.value.total, total.value.limit) == (400, 300)
    assert isinstance(total.value, BatchVerifyError) and isinstance(total.value, ValueError)
    assert verifier.verify_many(heavy[:3]) == [False] * 3
    assert verifier.verify_many(items[:8]) == _mixed_batch()[1][:8]


def test_default_bounds_and_bad_settings() -> None:
    """The defaults are what the module says; a bound below 1 is refused."""
    verifier = BatchVerifier()
    assert verifier.max_items == DEFAULT_MAX_ITEMS
    with pytest.raises(BatchTooLargeError):
        verifier.verify_many([(b"", b"", b"")] * (DEFAULT_MAX_ITEMS + 1))
    with pytest.raises(ValueError, match="positive"):
        BatchVerifier(max_items=0)
    with pytest.raises(ValueError, match="workers"):
        AsyncBatchVerifier(verifier, workers=0)


def test_auto_picks_native_when_compiled() -> None:
    """backend='auto' is native exactly when the extension is there; 'pynacl' always works."""
    assert BatchVerifier().backend == ("native" if native_available() else "pynacl")
    assert BatchVerifier(backend="pynacl").backend == "pynacl"
    assert "backend=" in repr(BatchVerifier())


def test_fallback_without_the_native_distribution() -> None:
    """Where aiconexus_native cannot be imported: auto falls back, 'native' names the extra."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["aiconexus_native"] = None  # as if the distribution were not installed
        from aiconexus_gateway.guards.batch_verify import BatchVerifier, NativeUnavailableError
        print(BatchVerifier().backend)
        try:
            BatchVerifier(backend="native")
        except NativeUnavailableError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    backend, error = done.stdout.splitlines()
    assert backend == "pynacl"
    assert "native" in error and "libsodium" in error and "backend='auto'" in error


@NATIVE
def test_native_module_checks_its_sizes() -> None:
    """The C call is never made with sizes that disagree (it would read out of bounds)."""
    import aiconexus_native

    with pytest.raises(ValueError, match="key and"):
        aiconexus_native.verify_batch(b"k" * 31, b"s" * 64, b"m", [1])
    with pytest.raises(ValueError, match="add up"):
        aiconexus_native.verify_batch(b"k" * 32, b"s" * 64, b"m", [2])
    with pytest.raises(ValueError, match="add up"):
        aiconexus_native.verify_batch(b"k" * 64, b"s" * 128, b"m", [2, -1])
    assert aiconexus_native.verify_batch(b"", b"", b"", []) == b""
    assert aiconexus_native._rules_hold()  # the import-time check of the linked libsodium


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_batches_on_the_pool(backend: str) -> None:
    """Concurrent batches on two workers: each call gets its own verdicts, bounds at once."""
    import asyncio

    items, expected = _mixed_batch()
    verifier = BatchVerifier(backend=backend, max_items=40)  # type: ignore[arg-type]
    async with AsyncBatchVerifier(verifier, workers=2) as pool:
        assert pool.backend == backend and pool.workers == 2
        results = await asyncio.gather(
            *(pool.verify_many(items[n:] + items[:n]) for n in range(0, 40, 5))
        )
        assert await pool.verify_many([]) == []
        with pytest.raises(BatchTooLargeError):
            await pool.verify_many(items + items[:1])
    for n, verdicts in zip(range(0, 40, 5), results, strict=True):
        assert verdicts == expected[n:] + expected[:n]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_per_turn_gathers_one_batch_per_loop_turn(backend: str) -> None:
    """40 concurrent single calls: one batch (split at max_items), each caller its verdict."""
    import asyncio

    from aiconexus_gateway.guards.batch_verify import PerTurnVerifier

    items, expected = _mixed_batch()
    async with AsyncBatchVerifier(BatchVerifier(backend=backend), workers=2) as pool:  # type: ignore[arg-type]
        per_turn = PerTurnVerifier(pool)
        verdicts = await asyncio.gather(*(per_turn.verify(*item) for item in items))
        assert verdicts == expected
        assert (per_turn.batches, per_turn.items) == (1, 40)
        small = PerTurnVerifier(AsyncBatchVerifier(BatchVerifier(max_items=16), workers=1))
        verdicts = await asyncio.gather(*(small.verify(*item) for item in items))
        small.pool.close()
        assert verdicts == expected
        assert (small.batches, small.items) == (3, 40)
        assert await per_turn.verify(*items[0]) is expected[0]
        assert per_turn.batches == 2
        with pytest.raises(MessageTooLongError):
            await per_turn.verify(
                items[0][0], b"x" * (pool.verifier.max_message_bytes + 1), items[0][2]
            )


@NATIVE
def test_native_batch_releases_the_gil() -> None:
    """While one thread is inside a native batch, another thread runs Python.

    Not a timing test: with the GIL held for the whole C call, the other thread could not run
    in the middle of it, whatever the machine's load.
    """
    import threading
    import time

    key = SigningKey.generate()
    message = b"m" * 400
    item = (bytes(key.verify_key), message, key.sign(message).signature)
    batch = [item] * 2048  # ~100 ms of CPU or more
    verifier = BatchVerifier(backend="native")
    window: list[float] = []

    def worker() -> None:
        window.append(time.perf_counter())
        assert all(verifier.verify_many(batch))
        window.append(time.perf_counter())

    thread = threading.Thread(target=worker)
    ran_at: list[float] = []
    thread.start()
    while thread.is_alive():
        ran_at.append(time.perf_counter())
    thread.join()
    start, end = window
    # held through the C call, the GIL would let this thread run only at the edges: before the
    # call starts and after it returns, while the worker waits to take the GIL back
    middle = (start + (end - start) / 4, end - (end - start) / 4)
    assert any(middle[0] < moment < middle[1] for moment in ran_at)
