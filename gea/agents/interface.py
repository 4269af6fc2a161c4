"""The batched policy interface shared by the GEA policy and the baselines, and helpers to feed it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import gymnasium as gym
import numpy as np

import gea.envs
from gea.spec import EmbodimentSpec

if TYPE_CHECKING:
    import torch

Observations: TypeAlias = Sequence[Mapping[str, Any]] | Mapping[str, Any]
EnvRef: TypeAlias = str | EmbodimentSpec
DoneMask: TypeAlias = "Sequence[bool] | np.ndarray | torch.Tensor | None"


@dataclass
class PolicyOutput:
    """Actions for a batch of envs, with log-probabilities and values when the policy has them."""

    actions: list[Any]
    log_prob: torch.Tensor | None = None
    value: torch.Tensor | None = None


class BatchPolicy(Protocol):
    """A policy acting in a batch of envs, possibly of different embodiments."""

    def act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool = False) -> Any:
        """An object whose ``actions`` holds one native action per env."""

    def reset(self, done: DoneMask = None) -> None:
        """Forget per-env state of the envs whose ``done`` flag is set (all when None)."""


def split_observations(observations: Observations) -> list[Mapping[str, Any]]:
    """A list of per-env observation dicts from a list or from a batched dict (as vector envs return)."""
    if isinstance(observations, Mapping):
        count = len(next(iter(observations.values()))) if observations else 0
        return [{key: value[index] for key, value in observations.items()} for index in range(count)]
    return list(observations)


def resolve_specs(envs: EnvRef | Sequence[EnvRef], count: int) -> list[EmbodimentSpec]:
    """One ``EmbodimentSpec`` per env from ids or specs (a single one applies to all ``count`` envs)."""
    if isinstance(envs, str | EmbodimentSpec):
        envs = [envs] * count
    if len(envs) != count:
        raise ValueError(f"got {count} observations but {len(envs)} env ids; give one id per env")
    return [env if isinstance(env, EmbodimentSpec) else gea.envs.spec(env) for env in envs]


class EpisodeAdapter:
    """Lets a ``BatchPolicy`` play single-env episodes (``gea.rollouts.episodes.run_episode``)."""

    def __init__(self, policy: BatchPolicy, greedy: bool = True) -> None:
        self.policy = policy
        self.greedy = greedy

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Start a new episode: clear the policy's history."""
        del env
        self.policy.reset(None)

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> Any:
        """The policy's action for this one env."""
        return self.policy.act([observation], [env.unwrapped.embodiment], greedy=self.greedy).actions[0]
