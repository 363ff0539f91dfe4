"""Our MinHash signatures are datasketch's, hash for hash, so stored signatures keep comparing."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from services.enrich.same_story import NUM_PERM, SEED, shingles, signature, similarity


def reference(grams: set[bytes]) -> np.ndarray:
    sketch = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")
    sketch.update_batch(sorted(grams))
    values: np.ndarray = sketch.hashvalues.astype(np.uint64)
    return values


@pytest.mark.parametrize("words", [0, 3, 25, 700, 1023, 1024, 1025, 6000])
def test_signature_equals_datasketch_affine32_for_any_number_of_shingles(words: int) -> None:
    rng = random.Random(words)
    vocabulary = [f"word{i}" for i in range(5_000)]
    grams = shingles(" ".join(rng.choice(vocabulary) for _ in range(words)))
    ours = signature(grams)
    assert ours.dtype == np.uint64
    assert ours.shape == (NUM_PERM,)
    assert np.array_equal(ours, reference(grams))


def test_similarity_of_a_lightly_edited_copy_is_high_and_of_another_text_low() -> None:
    rng = random.Random(7)
    vocabulary = [f"word{i}" for i in range(5_000)]
    words = [rng.choice(vocabulary) for _ in range(600)]
    edited = [*words[:280], "a", "changed", "quote", *words[290:]]
    other = [rng.choice(vocabulary) for _ in range(600)]
    original = signature(shingles(" ".join(words)))
    assert similarity(original, signature(shingles(" ".join(edited)))) > 0.8
    assert similarity(original, signature(shingles(" ".join(other)))) < 0.1
