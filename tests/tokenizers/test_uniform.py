"""Uniform binning: accuracy, total decoding, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gea.tokenizers import ActionStats, UniformBinTokenizer, load_tokenizer

STATS = ActionStats.from_bounds([-1.0, 0.0, -5.0], [1.0, 2.0, 5.0])


def test_round_trip_error_is_within_half_a_bin() -> None:
    actions = np.random.default_rng(0).uniform(STATS.low, STATS.high, size=(500, 3)).astype(np.float32)
    tokenizer = UniformBinTokenizer(64, STATS)
    ids = tokenizer.encode(actions)
    assert np.array(ids).shape == (500, 3) and np.array(ids).max() < 64
    half_bin = (STATS.high - STATS.low) / 64 / 2
    assert np.all(np.abs(tokenizer.decode(ids) - actions) <= half_bin + 1e-5)


def test_fit_sets_the_range_from_data() -> None:
    actions = np.array([[0.0, 10.0], [1.0, 20.0]], np.float32)
    tokenizer = UniformBinTokenizer(16).fit(actions)
    np.testing.assert_allclose(tokenizer.stats.low, [0, 10])
    assert tokenizer.tokens_per_action == 2 and tokenizer.vocab_size == 16


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(-(10**12), 10**12), st.floats(), st.text(max_size=2)), max_size=6)))
def test_decode_of_any_ids_is_in_bounds(rows: list[list[object]]) -> None:
    decoded = UniformBinTokenizer(32, STATS).decode(rows)
    assert decoded.shape == (len(rows), 3)
    assert np.all(decoded >= STATS.low) and np.all(decoded <= STATS.high)


def test_missing_ids_take_the_middle_bin_and_extra_ids_are_ignored() -> None:
    tokenizer = UniformBinTokenizer(32, STATS)
    full = tokenizer.decode([[0, 31, 16, 5, 5]])
    assert full[0, 0] < -0.9 and full[0, 1] > 1.9
    truncated = tokenizer.decode([[0]])
    np.testing.assert_allclose(truncated[0, 1:], tokenizer.decode([[0, 16, 16]])[0, 1:])


def test_allowed_next_and_save_load(tmp_path: Path) -> None:
    tokenizer = UniformBinTokenizer(8, STATS)
    assert list(tokenizer.allowed_next([])) == list(range(8))
    assert len(tokenizer.allowed_next([1, 2, 3])) == 0 and tokenizer.is_complete([1, 2, 3])
    loaded = load_tokenizer(tokenizer.save(tmp_path / "bins"))
    ids = [[1, 2, 3], [7, 0]]
    np.testing.assert_array_equal(loaded.decode(ids), tokenizer.decode(ids))
