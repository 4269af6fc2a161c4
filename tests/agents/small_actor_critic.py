"""A multi-embodiment actor-critic behind the batched policy interface (CNN on images or MLP on proprio), kept as
test code: it checks that the interface carries per-embodiment heads, acting and re-scoring alike. `gea ppo`'s
small policy is `gea.agents.small_nets.SmallActorCriticNet`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from gea.agents.interface import DoneMask, EnvRef, Observations, PolicyOutput, resolve_specs, split_observations
from gea.agents.small_nets import mlp_torso
from gea.envs.spec import ContinuousActions, DiscreteActions, EmbodimentSpec
from gea.errors import ConfigError


def _encoder(observation_key: str, input_shape: tuple[int, ...], hidden: int) -> nn.Module:
    if observation_key == "image":
        conv = nn.Sequential(
            nn.Conv2d(3, 16, 5, stride=2),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = conv(torch.zeros(1, 3, *input_shape[:2])).shape[-1]
        return nn.Sequential(conv, nn.Linear(flat, hidden), nn.ReLU())
    return mlp_torso(int(np.prod(input_shape)), hidden)


class SmallActorCritic(nn.Module):
    """Shared encoder, one action head and one value head per embodiment; a ``BatchPolicy`` with ``evaluate``.

    ``observation_key`` picks the input: ``image`` (uint8 HxWx3, small CNN) or ``proprio`` (MLP).
    Discrete embodiments get a categorical head, continuous ones a diagonal Gaussian (the env clips).
    """

    def __init__(
        self,
        envs: Sequence[EnvRef],
        input_shape: tuple[int, ...],
        observation_key: str = "image",
        hidden: int = 64,
    ) -> None:
        super().__init__()
        self.observation_key = observation_key
        self.encoder = _encoder(observation_key, input_shape, hidden)
        self.specs = {spec.id: spec for spec in resolve_specs(list(envs), len(envs))}
        self.action_heads = nn.ModuleDict()
        self.log_stds = nn.ParameterDict()
        self.value_heads = nn.ModuleDict()
        for key, spec in self._keyed_specs():
            if isinstance(spec.action, DiscreteActions):
                self.action_heads[key] = nn.Linear(hidden, spec.action.n)
            elif isinstance(spec.action, ContinuousActions):
                self.action_heads[key] = nn.Linear(hidden, spec.action.dim)
                self.log_stds[key] = nn.Parameter(torch.zeros(spec.action.dim))
            else:
                raise ConfigError(f"{spec.id}: SmallActorCritic supports discrete and continuous actions, not text")
            self.value_heads[key] = nn.Linear(hidden, 1)

    def _keyed_specs(self) -> list[tuple[str, EmbodimentSpec]]:
        return [(_key(env_id), spec) for env_id, spec in self.specs.items()]

    def _inputs(self, rows: Sequence[Any]) -> torch.Tensor:
        device = next(self.parameters()).device
        batch = torch.as_tensor(np.stack([np.asarray(row[self.observation_key]) for row in rows]), device=device)
        if self.observation_key == "image":
            return batch.permute(0, 3, 1, 2).float() / 255.0
        return batch.float().flatten(1)

    def _distribution(self, features: torch.Tensor, spec: EmbodimentSpec) -> Distribution:
        key = _key(spec.id)
        out = self.action_heads[key](features)
        if isinstance(spec.action, DiscreteActions):
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_stds[key].exp().expand_as(out)), 1)

    def _groups(self, specs: Sequence[EmbodimentSpec]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for index, spec in enumerate(specs):
            if spec.id not in self.specs:
                raise ConfigError(f"SmallActorCritic was built without {spec.id!r}; built for {sorted(self.specs)}")
            groups.setdefault(spec.id, []).append(index)
        return groups

    @torch.no_grad()
    def act(self, observations: Observations, envs: EnvRef | Sequence[EnvRef], greedy: bool = False) -> PolicyOutput:
        """Sampled (or most likely) native actions, their log-probabilities and values."""
        rows = split_observations(observations)
        specs = resolve_specs(envs, len(rows))
        features = self.encoder(self._inputs(rows))
        actions: list[Any] = [None] * len(rows)
        log_prob, value = torch.zeros(len(rows)), torch.zeros(len(rows))
        for env_id, indices in self._groups(specs).items():
            spec, index = self.specs[env_id], torch.tensor(indices)
            distribution = self._distribution(features[index], spec)
            sample = distribution.mode if greedy else distribution.sample()
            log_prob[index] = distribution.log_prob(sample).cpu()
            value[index] = self.value_heads[_key(env_id)](features[index]).squeeze(-1).cpu()
            for row, action in zip(indices, sample.cpu().numpy(), strict=True):
                actions[row] = int(action) if isinstance(spec.action, DiscreteActions) else action.astype(np.float32)
        return PolicyOutput(actions, log_prob, value)

    def evaluate(
        self, observations: Observations, envs: EnvRef | Sequence[EnvRef], actions: Sequence[Any]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability, entropy and value of given actions (with gradients), for PPO."""
        rows = split_observations(observations)
        specs = resolve_specs(envs, len(rows))
        features = self.encoder(self._inputs(rows))
        log_prob = features.new_zeros(len(rows))
        entropy, value = features.new_zeros(len(rows)), features.new_zeros(len(rows))
        for env_id, indices in self._groups(specs).items():
            spec, index = self.specs[env_id], torch.tensor(indices, device=features.device)
            distribution = self._distribution(features[index], spec)
            taken = torch.as_tensor(np.stack([np.asarray(actions[row]) for row in indices]), device=features.device)
            log_prob = log_prob.index_put((index,), distribution.log_prob(taken))
            entropy = entropy.index_put((index,), distribution.entropy())
            value = value.index_put((index,), self.value_heads[_key(env_id)](features[index]).squeeze(-1))
        return log_prob, entropy, value

    def reset(self, done: DoneMask = None) -> None:
        """Feed-forward: nothing to reset."""


def _key(env_id: str) -> str:
    """ModuleDict keys may not contain dots or colons."""
    return env_id.replace(".", "_").replace(":", "__")
