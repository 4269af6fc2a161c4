"""Test-only one-step environment for learning tests: a red or blue screen, two actions named in words.

"turn left" is rewarded (1) on a red screen and "turn right" on a blue one; each episode is one step. A policy
that learns it must read its image. Importable (not a test file) so that worker processes can register it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from gea.envs.contract import ImageObservationEnv
from gea.envs.registry import register
from gea.spec import DiscreteActions, EmbodimentSpec

COLOR_BANDIT_ID = "test:color-bandit"
SPEC = EmbodimentSpec(
    id=COLOR_BANDIT_ID,
    domain="navigation",
    action=DiscreteActions(names=("turn left", "turn right")),
    description="a screen that is red or blue",
    simulator="a one-step test bandit",
    max_episode_steps=1,
)
COLORS = {0: (200, 30, 30), 1: (30, 30, 200)}  # red -> "turn left" (0), blue -> "turn right" (1)


class ColorBandit(ImageObservationEnv):
    """Red or blue screen; the matching turn earns 1, the other 0; the episode ends after one step."""

    def __init__(self, image_size: int = 32, render_mode: str | None = "rgb_array") -> None:
        super().__init__(SPEC, image_size, render_mode=render_mode)
        self._target = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """A new random screen colour."""
        super().reset(seed=seed)
        self._target = int(self.np_random.integers(2))
        self._last_image = np.full((*self.image_size, 3), COLORS[self._target], np.uint8)
        return self._observation(), {"success": False}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Reward 1 for the turn that matches the screen's colour."""
        success = int(action) == self._target
        return self._observation(), float(success), True, False, {"success": success}

    def _observation(self) -> dict[str, Any]:
        return {"image": self._last_image.copy(), "instruction": "turn left on red, right on blue"}


@register(SPEC)
def make_color_bandit(**kwargs: Any) -> gym.Env[Any, Any]:
    """The colour bandit (see ``ColorBandit``)."""
    return ColorBandit(**kwargs)
