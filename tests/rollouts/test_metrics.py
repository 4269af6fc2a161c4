"""Evaluation metrics."""

import math

import pytest

from gea.rollouts.metrics import interquartile_mean, wilson_interval
from gea.rollouts.normalization import normalized_score


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [(0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0)), (5, 10, (0.2366, 0.7634))],
)
def test_wilson_interval_matches_reference_values(successes: int, trials: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=1e-3)
    assert high == pytest.approx(expected[1], abs=1e-3)


def test_wilson_interval_without_trials_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_interquartile_mean() -> None:
    assert interquartile_mean([1, 2, 3, 4]) == pytest.approx(2.5)
    assert interquartile_mean([0, 1, 1, 1, 1, 1, 1, 100]) == pytest.approx(1.0)
    assert interquartile_mean([7.0]) == 7.0
    assert math.isnan(interquartile_mean([]))


@pytest.mark.parametrize(
    ("env_id", "mean_return", "expected"),
    [
        ("procgen:coinrun", 10.0, 1.0),
        ("procgen:coinrun", 5.0, 0.0),
        ("atari:Pong", -20.7, 0.0),
        ("cartpole", 3.0, None),
    ],
)
def test_normalized_scores(env_id: str, mean_return: float, expected: float | None) -> None:
    score = normalized_score(env_id, mean_return)
    assert score == (None if expected is None else pytest.approx(expected, abs=1e-6))
