"""benchmarks/reach_goal_visibility.py: seeing the goal's pixel beats heading for the average goal."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("metaworld", reason="metaworld is not installed: pip install 'gea[metaworld]'")
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reach_goal_visibility.py"


def test_knowing_the_goal_pixel_beats_the_blind_average() -> None:
    spec = importlib.util.spec_from_file_location("reach_goal_visibility", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    goals = np.random.default_rng(0).uniform(script.GOAL_LOW, script.GOAL_HIGH, (4000, 3))
    keys = script.pixel_keys("metaworld:reach-v3", "corner3", 32, goals)
    blind = float((np.linalg.norm(goals - goals.mean(0), axis=1) < script.SUCCESS_RADIUS).mean())
    assert len(np.unique(keys)) > 20  # the goal box spans many pixels of the camera image
    assert 0.05 < blind < 0.2 and script.success_knowing_pixel(goals, keys) > 3 * blind
