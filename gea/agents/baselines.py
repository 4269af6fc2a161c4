"""The random baseline: uniform actions of any embodiment, one env at a time."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from gea.spec import ContinuousActions, DiscreteActions, EmbodimentSpec, TextActions


class RandomAgent:
    """Uniformly random actions for any embodiment (text actions: a random grammar command)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Nothing to prepare; present so experts and baselines share one interface."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> Any:
        """A random native action for ``env``'s embodiment."""
        return self.sample(env.unwrapped.embodiment)  # type: ignore[attr-defined]

    def sample(self, spec: EmbodimentSpec) -> Any:
        """A random action of ``spec``'s action space."""
        action = spec.action
        if isinstance(action, ContinuousActions):
            return self.rng.uniform(action.low, action.high).astype(np.float32)
        if isinstance(action, DiscreteActions):
            return int(self.rng.integers(action.n))
        return self._random_command(action)

    def _random_command(self, action: TextActions) -> str:
        x, y = (int(v) for v in self.rng.integers(action.grid, size=2))
        return f"click {x} {y}"
