"""Residual VQ-VAE tokenizer: learning, determinism, padding, total decoding, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizer_fixtures import smooth_actions, tiny_rvq_configs

from gea.errors import ConfigError
from gea.tokenizers import ResidualVQTokenizer, RVQConfig, load_tokenizer


@pytest.fixture(scope="module")
def fitted() -> ResidualVQTokenizer:
    """Fitted on two embodiments of different action sizes (3-d and 7-d)."""
    model, train = tiny_rvq_configs()
    data = {"arm": smooth_actions(2000, 3, seed=1), "hand": smooth_actions(2000, 7, seed=2)}
    return ResidualVQTokenizer(model, train).fit(data, progress=False)


def test_learns_better_than_predicting_the_mean(fitted: ResidualVQTokenizer) -> None:
    heldout = {"arm": smooth_actions(500, 3, seed=3), "hand": smooth_actions(500, 7, seed=4)}
    normalized = np.concatenate([fitted.stats[k].normalize(v).reshape(-1) for k, v in heldout.items()])
    assert fitted.reconstruction_mse(heldout) < 0.5 * normalized.var()


def test_shapes_padding_and_truncation(fitted: ResidualVQTokenizer) -> None:
    ids = fitted.encode(smooth_actions(5, 7), embodiment="hand")
    assert np.array(ids).shape == (5, 2) and np.array(ids).max() < fitted.vocab_size
    assert fitted.decode(ids, embodiment="hand").shape == (5, 7)
    assert fitted.decode(ids, embodiment="arm").shape == (5, 3)
    assert fitted.for_embodiment("arm").decode(ids).shape == (5, 3)
    with pytest.raises(ConfigError, match="embodiment="):
        fitted.encode(smooth_actions(5, 3))


def test_same_seed_gives_identical_weights_and_other_seed_differs() -> None:
    data = smooth_actions(600, 4)
    states = []
    for seed in (5, 5, 6):
        model, train = tiny_rvq_configs(seed=seed, steps=40)
        states.append(ResidualVQTokenizer(model, train).fit(data, progress=False).model.state_dict())
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])
    assert not all(torch.equal(states[0][key], states[2][key]) for key in states[0])


def test_save_load_decodes_identically(fitted: ResidualVQTokenizer, tmp_path: Path) -> None:
    loaded = load_tokenizer(fitted.save(tmp_path / "rvq"))
    assert isinstance(loaded, ResidualVQTokenizer)
    ids = [[0, 1], [31, 7], [3], [], [99, -1]]
    for name in ("arm", "hand"):
        np.testing.assert_array_equal(loaded.decode(ids, name), fitted.decode(ids, name))
    view = load_tokenizer(fitted.for_embodiment("arm").save(tmp_path / "view"))
    np.testing.assert_array_equal(view.decode(ids), fitted.decode(ids, "arm"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(-(2**40), 2**40), st.none(), st.floats()), max_size=5), max_size=4))
def test_decode_of_any_ids_is_in_bounds(fitted: ResidualVQTokenizer, rows: list[list[object]]) -> None:
    decoded = fitted.decode(rows, embodiment="hand")
    stats = fitted.stats["hand"]
    assert decoded.shape == (len(rows), 7)
    assert np.all(decoded >= stats.low - 1e-6) and np.all(decoded <= stats.high + 1e-6)


def test_missing_codes_use_the_smallest_norm_code(fitted: ResidualVQTokenizer) -> None:
    neutral = fitted.neutral_ids().tolist()
    np.testing.assert_array_equal(fitted.decode([[]], "arm"), fitted.decode([neutral], "arm"))
    np.testing.assert_array_equal(fitted.decode([[4, "x"]], "arm"), fitted.decode([[4, neutral[1]]], "arm"))


def test_actions_wider_than_max_dim_are_refused() -> None:
    with pytest.raises(ConfigError, match="max_dim"):
        ResidualVQTokenizer(RVQConfig(max_dim=4)).fit(np.zeros((10, 6), np.float32), progress=False)


def test_progress_callback_receives_metrics() -> None:
    model, train = tiny_rvq_configs(steps=21)
    seen: list[tuple[int, dict[str, float]]] = []
    ResidualVQTokenizer(model, train).fit(
        smooth_actions(300, 2), progress=False, on_log=lambda s, m: seen.append((s, m))
    )
    assert [step for step, _ in seen] == [0, 20] and set(seen[0][1]) == {"loss", "mse", "commitment"}
