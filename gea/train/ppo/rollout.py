"""Collecting one rollout: act, step the rank's vector env, store, bootstrap truncated episodes, then GAE."""

from __future__ import annotations

from typing import Any

import numpy as np

from gea.agents.interface import split_observations
from gea.train.ppo.agent import PPOAgent
from gea.train.ppo.buffer import RolloutBuffer
from gea.train.ppo.envs import EpisodeStats, VecEnv, episode_ends


class RolloutCollector:
    """Steps the rank's envs with the agent, ``rollout_steps`` at a time, filling a ``RolloutBuffer``."""

    def __init__(self, envs: VecEnv, agent: PPOAgent, steps: int, gamma: float, gae_lambda: float) -> None:
        self.envs, self.agent = envs, agent
        self.gamma, self.gae_lambda = gamma, gae_lambda
        self.num_envs = envs.num_envs
        device = next(agent.module.parameters()).device
        self.buffer = RolloutBuffer(steps, self.num_envs, device)
        self.stats = EpisodeStats(self.num_envs)
        self.observations: Any = None
        self.restarts = 0

    def reset(self, seed: int) -> None:
        """Start fresh episodes in every env."""
        self.observations, _ = self.envs.reset(seed=seed)
        self.agent.reset(np.ones(self.num_envs, dtype=bool))

    def collect(self) -> RolloutBuffer:
        """Fill the buffer with one rollout and compute advantages and returns."""
        buffer = self.buffer
        for step in range(buffer.steps):
            acted = self.agent.act(self.observations)
            buffer.add(step, acted.inputs, acted.log_prob, acted.value, acted.tasks, self.stats.episode_ids.copy())
            observations, rewards, terminated, truncated, infos = self.envs.step(acted.env_actions)
            ends = episode_ends(terminated, truncated, infos)
            learning_rewards = self._bootstrap_truncated(rewards, ends)
            successes = np.zeros(self.num_envs, dtype=bool)
            for end in ends:
                successes[end.index] = end.success
                self.restarts += int(end.restarted)
            done = terminated | truncated
            buffer.add_outcome(step, learning_rewards, done, successes)
            self.stats.step(rewards, ends)
            if done.any():
                self.agent.reset(done)
            self.observations = observations
        last_value = self.agent.value_of(split_observations(self.observations), list(range(self.num_envs)))
        buffer.finish(last_value.to(buffer.device), self.gamma, self.gae_lambda)
        return buffer

    def _bootstrap_truncated(self, rewards: np.ndarray, ends: list[Any]) -> np.ndarray:
        """``r + gamma * V(final_obs)`` where an episode was cut off (time limit or a restarted worker)."""
        cut = [end for end in ends if end.truncated and end.final_obs is not None]
        if not cut:
            return rewards
        values = self.agent.value_of([end.final_obs for end in cut], [end.index for end in cut]).cpu().numpy()
        rewards = rewards.copy()
        for end, value in zip(cut, values, strict=True):
            rewards[end.index] += self.gamma * float(value)
        return rewards
