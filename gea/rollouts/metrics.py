"""Evaluation metrics: success confidence intervals and the interquartile mean."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% (by default) Wilson score interval for a success rate; ``(0, 1)`` when there are no trials."""
    if trials <= 0:
        return (0.0, 1.0)
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle 50% of ``values`` (IQM, robust across tasks); NaN for no values.

    Uses the fractional-weight definition so that small samples keep every value's share exact.
    """
    if not values:
        return float("nan")
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    count = len(ordered)
    low, high = 0.25 * count, 0.75 * count
    weights = np.clip(np.minimum(np.arange(1, count + 1), high) - np.maximum(np.arange(count), low), 0.0, 1.0)
    return float(np.sum(weights * ordered) / np.sum(weights))
