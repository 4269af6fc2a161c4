"""Run one episode of an agent in a contract env and summarize it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym


class EpisodeAgent(Protocol):
    """Anything that acts one env at a time: experts, baselines, adapted policies."""

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Called after each ``env.reset``."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> Any:
        """The native action for the current observation."""


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one episode."""

    env_id: str
    seed: int
    success: bool
    episode_return: float
    length: int


def run_episode(
    env: gym.Env[Any, Any], agent: EpisodeAgent, seed: int, env_id: str, end_on_success: bool = True
) -> EpisodeResult:
    """Play one episode from ``reset(seed=seed)`` until it ends (or, optionally, first succeeds)."""
    observation, info = env.reset(seed=seed)
    agent.reset(env)
    total, length, success = 0.0, 0, bool(info["success"])
    done = False
    while not done:
        observation, reward, terminated, truncated, info = env.step(agent.act(env, observation))
        total += float(reward)
        length += 1
        success = success or bool(info["success"])
        done = terminated or truncated or (end_on_success and success)
    return EpisodeResult(env_id, seed, success, total, length)
