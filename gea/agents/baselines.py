"""Baselines that need no LLM: random actions, experts, Stable-Baselines3 models (all behind ``BatchPolicy``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.interface import DoneMask, EnvRef, Observations, PolicyOutput, resolve_specs, split_observations
from gea.errors import ConfigError
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


class RandomPolicy:
    """``BatchPolicy`` of uniformly random actions for any mix of embodiments."""

    def __init__(self, seed: int = 0) -> None:
        self.agent = RandomAgent(seed)

    def act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool = False) -> PolicyOutput:
        """One random native action per env."""
        del greedy
        specs = resolve_specs(envs, len(split_observations(observations)))
        return PolicyOutput([self.agent.sample(spec) for spec in specs])

    def reset(self, done: DoneMask = None) -> None:
        """Stateless: nothing to reset."""


class ExpertPolicy:
    """``BatchPolicy`` over in-process envs, each driven by its registered expert (``gea.agents.experts``).

    Experts read privileged state, so this policy holds the env objects themselves; call ``reset(done)``
    right after those envs were reset.
    """

    def __init__(self, envs: Sequence[gym.Env[Any, Any]]) -> None:
        from gea.agents.experts import make_expert

        self.envs = list(envs)
        self.experts = [make_expert(env.unwrapped.embodiment.id) for env in self.envs]  # type: ignore[attr-defined]
        self._fresh = [True] * len(self.envs)

    def act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool = True) -> PolicyOutput:
        """Each expert's action for its env's current observation (``envs`` is only checked for length)."""
        del greedy
        rows = split_observations(observations)
        if len(rows) != len(self.envs):
            raise ValueError(f"ExpertPolicy holds {len(self.envs)} envs but got {len(rows)} observations")
        resolve_specs(envs, len(rows))
        actions = []
        for index, (env, expert, row) in enumerate(zip(self.envs, self.experts, rows, strict=True)):
            if self._fresh[index]:
                expert.reset(env)
                self._fresh[index] = False
            actions.append(expert.act(env, dict(row)))
        return PolicyOutput(actions)

    def reset(self, done: DoneMask = None) -> None:
        """Mark envs as freshly reset so their experts reset before the next action."""
        flags = np.ones(len(self.envs), bool) if done is None else np.asarray(done, dtype=bool).reshape(-1)
        for index in np.flatnonzero(flags):
            self._fresh[index] = True


class SB3Policy:
    """``BatchPolicy`` over Stable-Baselines3 models, one per env id, fed one observation key (e.g. ``proprio``)."""

    def __init__(self, models: Mapping[str, Any], observation_key: str = "image") -> None:
        self.models = dict(models)
        self.observation_key = observation_key

    def act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool = True) -> PolicyOutput:
        """Each env's model prediction (batched per env id)."""
        rows = split_observations(observations)
        specs = resolve_specs(envs, len(rows))
        actions: list[Any] = [None] * len(rows)
        for env_id in dict.fromkeys(spec.id for spec in specs):
            if env_id not in self.models:
                raise ConfigError(f"SB3Policy has no model for {env_id!r}; models: {sorted(self.models)}")
            indices = [index for index, spec in enumerate(specs) if spec.id == env_id]
            batch = np.stack([np.asarray(rows[index][self.observation_key]) for index in indices])
            predicted, _ = self.models[env_id].predict(batch, deterministic=greedy)
            for index, action in zip(indices, predicted, strict=True):
                actions[index] = int(action) if isinstance(specs[index].action, DiscreteActions) else action
        return PolicyOutput(actions)

    def reset(self, done: DoneMask = None) -> None:
        """SB3 feed-forward models keep no state."""
