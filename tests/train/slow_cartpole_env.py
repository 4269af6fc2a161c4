"""Test-only straggler: Gymnasium's CartPole whose every step sleeps ``DELAY_S`` (``gym:GeaTest/SlowCartPole-v0``).

Importable (not a test file) so that ``gea ppo imports=[slow_cartpole_env]`` registers it in every rank.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

SLOW_CARTPOLE_ID = "gym:GeaTest/SlowCartPole-v0"
DELAY_S = 0.25


class SlowCartPole(CartPoleEnv):
    """CartPole, ``DELAY_S`` seconds per step: a simulator far slower than its peers on other ranks."""

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Sleep, then step CartPole."""
        time.sleep(DELAY_S)
        return super().step(action)


if "GeaTest/SlowCartPole-v0" not in gym.registry:
    gym.register("GeaTest/SlowCartPole-v0", entry_point=SlowCartPole, max_episode_steps=500)
