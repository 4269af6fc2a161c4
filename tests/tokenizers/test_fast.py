"""FAST: DCT + quantization + BPE over action chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_fixtures import smooth_actions

from gea.errors import InvalidActionError
from gea.tokenizers import FASTTokenizer, chunk_actions, load_tokenizer
from gea.tokenizers.fast import dct_matrix


@pytest.fixture(scope="module")
def chunks() -> np.ndarray:
    """Smooth 3-d trajectories cut into chunks of 8."""
    steps = np.linspace(0, 6, 400)[:, None]
    episodes = [np.sin(steps * (1 + 0.1 * k) + np.array([0.0, 1.0, 2.0])) for k in range(6)]
    return np.concatenate([chunk_actions(episode, 8) for episode in episodes])


@pytest.fixture(scope="module")
def fitted(chunks: np.ndarray) -> FASTTokenizer:
    """Fitted on all chunks with a small BPE vocabulary."""
    return FASTTokenizer(chunk=8, scale=20.0, bpe_vocab_size=300).fit(chunks)


def test_dct_matrix_is_orthonormal() -> None:
    matrix = dct_matrix(8)
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(8), atol=1e-12)


def test_round_trip_is_accurate_and_compressed(fitted: FASTTokenizer, chunks: np.ndarray) -> None:
    ids = fitted.encode(chunks)
    assert all(row[-1] == fitted.end_id for row in ids)
    assert np.mean([len(row) for row in ids]) < 8 * 3 / 2  # BPE merges the many zero coefficients
    normalized = fitted.stats.normalize(chunks.reshape(-1, 3))
    decoded = fitted.stats.normalize(fitted.decode(ids).reshape(-1, 3))
    assert np.mean((normalized - decoded) ** 2) < 1e-3


def test_allowed_next_ends_with_the_end_id(fitted: FASTTokenizer) -> None:
    assert fitted.end_id in fitted.allowed_next([])
    assert list(fitted.allowed_next([1] * (fitted.tokens_per_action - 1))) == [fitted.end_id]
    assert fitted.is_complete([3, fitted.end_id])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(-5, 400), st.text(max_size=1)), max_size=40), max_size=3))
def test_decode_of_any_ids_is_in_bounds(fitted: FASTTokenizer, rows: list[list[object]]) -> None:
    decoded = fitted.decode(rows)
    assert decoded.shape == (len(rows), 8, 3)
    assert np.all(decoded >= fitted.stats.low - 1e-6) and np.all(decoded <= fitted.stats.high + 1e-6)


def test_wrong_shape_names_chunk_actions(fitted: FASTTokenizer) -> None:
    with pytest.raises(InvalidActionError, match="chunk_actions"):
        fitted.encode(smooth_actions(8, 3))


def test_save_load_decodes_identically(fitted: FASTTokenizer, chunks: np.ndarray, tmp_path: Path) -> None:
    loaded = load_tokenizer(fitted.save(tmp_path / "fast"))
    ids = fitted.encode(chunks[:20])
    assert loaded.encode(chunks[:20]) == ids
    np.testing.assert_array_equal(loaded.decode(ids), fitted.decode(ids))
