"""The batch verifier's verdicts equal the protocol core's on every Ed25519 vector we hold.

Project Wycheproof's 151 verify cases and the small-order / non-canonical cases of
ed25519-edges.json, each backend: the native extension (skipped when it was not compiled)
and the PyNaCl fallback.
"""

from __future__ import annotations

import random

import pytest
from support.ed25519_edges import load_edge_cases
from support.wycheproof import load_cases

from aiconexus.protocol import verify_ed25519
from aiconexus_gateway.guards.batch_verify import BatchVerifier, native_available

WYCHEPROOF = load_cases()
EDGES = load_edge_cases()
ITEMS = [(c.public_key, c.message, c.signature) for c in WYCHEPROOF] + [
    (c.public_key, c.message, c.signature) for c in EDGES
]
EXPECTED = [c.valid for c in WYCHEPROOF] + [False] * len(EDGES)

BACKENDS = [
    pytest.param(
        "native",
        marks=pytest.mark.skipif(
            not native_available(),
            reason="native verifier not compiled (libsodium-dev missing at make install)",
        ),
    ),
    "pynacl",
]


def test_the_vectors_are_all_there() -> None:
    """151 Wycheproof cases and 5 edge cases, some with keys or signatures of odd lengths."""
    assert (len(WYCHEPROOF), len(EDGES)) == (151, 5)
    assert any(len(key) != 32 or len(signature) != 64 for key, _, signature in ITEMS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_batch_of_every_vector(backend: str) -> None:
    """All 156 cases in one batch: each verdict is the core's and the expected result."""
    verifier = BatchVerifier(backend=backend)  # type: ignore[arg-type]
    assert verifier.backend == backend
    core = [verify_ed25519(*item) for item in ITEMS]
    assert core == EXPECTED
    assert verifier.verify_many(ITEMS) == core


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_vector_alone(backend: str) -> None:
    """A batch of one gives the same verdict as in the full batch."""
    verifier = BatchVerifier(backend=backend)  # type: ignore[arg-type]
    assert [verifier.verify_many([item])[0] for item in ITEMS] == EXPECTED


@pytest.mark.parametrize("backend", BACKENDS)
def test_shuffled_and_repeated(backend: str) -> None:
    """Order and repetition do not matter: each verdict stays with its own item."""
    rng = random.Random(7)
    order = [rng.randrange(len(ITEMS)) for _ in range(600)]
    verifier = BatchVerifier(backend=backend)  # type: ignore[arg-type]
    assert verifier.verify_many([ITEMS[i] for i in order]) == [EXPECTED[i] for i in order]
