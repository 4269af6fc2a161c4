"""What the PPO trainer needs from a policy (``PPOAgent``), and that interface for the small actor-critic nets.

Values cross the interface in two units: ``act`` and ``value_of`` return values in *return* units (for
GAE); ``evaluate`` returns the critic's raw output, which is PopArt-normalized when the agent has a
``popart`` module (the trainer then normalizes its targets with it) and in return units otherwise.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.agents.value import PopArt
from gea.envs.registry import spec as env_spec
from gea.errors import ConfigError
from gea.files import atomic_write_json
from gea.spec import ContinuousActions, DiscreteActions


@dataclass
class ActResult:
    """One batched acting step."""

    env_actions: Any  # what the vector env's ``step`` takes
    inputs: Any  # what ``evaluate`` needs later: a dict of (N, ...) tensors or a list of N objects
    log_prob: torch.Tensor  # (N,) summed over the action's tokens / dimensions
    value: torch.Tensor  # (N,) in return units
    tasks: torch.Tensor  # (N,) long: PopArt / per-environment index


@dataclass
class EvalResult:
    """Re-evaluation of stored inputs with gradients."""

    log_prob: torch.Tensor
    entropy: torch.Tensor  # normalized per environment: divided by that env's maximum entropy
    value: torch.Tensor  # critic units (PopArt-normalized when ``popart`` is set)


class PPOAgent(Protocol):
    """A policy the PPO trainer can train (the small nets here, the GEA policy in ``mllm_agent``)."""

    module: nn.Module
    popart: PopArt | None

    def act(self, observations: Any, greedy: bool = False) -> ActResult:
        """Actions for the rank's envs (batched observations as the vector env returns them)."""

    def evaluate(self, inputs: Any) -> EvalResult:
        """Log-prob, normalized entropy and value of stored inputs (a gathered minibatch), with gradients."""

    def value_of(self, observations: Sequence[dict[str, Any]], indices: Sequence[int]) -> torch.Tensor:
        """Values (return units) of single observations of envs ``indices`` (to bootstrap truncated episodes)."""

    def reset(self, done: np.ndarray) -> None:
        """Forget per-env state (history) of the envs whose episode ended."""

    def after_update(self) -> None:
        """Called after every optimizer step (drop caches computed with the old weights)."""

    def critic_parameters(self) -> list[nn.Parameter]:
        """The critic's own parameters (what a value-only warm-up update trains)."""

    def reference_log_prob(self, inputs: Any) -> torch.Tensor | None:
        """Log-prob of the stored actions under the policy as it was when training started (for KL logging); None
        when the policy still is that policy (the KL is then exactly 0)."""

    def sft_loss(self, samples: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Mean negative log-likelihood of expert actions in episode-dataset windows (the joint SFT term)."""

    def evaluate_with_sft(self, inputs: Any, samples: Sequence[dict[str, Any]]) -> tuple[EvalResult, torch.Tensor]:
        """``evaluate(inputs)`` and ``sft_loss(samples)`` together (one model call where the policy can)."""

    def export(self, directory: Path) -> None:
        """Write the trained policy in its usual checkpoint format."""


class SmallNetAgent:
    """``PPOAgent`` over ``SmallActorCriticNet``: tensors end to end, zero-copy from the vector env's arrays."""

    def __init__(
        self, net: SmallActorCriticNet, observation_key: str, env_ids: Sequence[str], device: torch.device
    ) -> None:
        self.net = net.to(device)
        self.module: nn.Module = self.net
        self.popart = net.popart
        self.observation_key = observation_key
        self.device = device
        self.env_ids = list(env_ids)
        self.reference = copy.deepcopy(self.net).requires_grad_(False)
        self._max_entropy = net.max_entropy()
        self._tasks = torch.zeros(len(env_ids), dtype=torch.long, device=device)

    @classmethod
    def build(
        cls,
        env_ids: Sequence[str],
        observation_space: Any,
        encoder: str,
        observation_key: str,
        hidden: int,
        popart: bool,
        device: torch.device,
    ) -> SmallNetAgent:
        """A fresh net for ``env_ids`` (which must share one action space) and the given observation key."""
        specs = {env_spec(env_id).action for env_id in env_ids}
        if len(specs) != 1:
            raise ConfigError(f"policy=small needs envs with one action space; got {sorted(set(env_ids))}")
        action = specs.pop()
        if isinstance(action, DiscreteActions):
            action_dim, discrete = action.n, True
        elif isinstance(action, ContinuousActions):
            action_dim, discrete = action.dim, False
        else:
            raise ConfigError("policy=small supports discrete and continuous actions; use policy=mllm for text")
        if observation_key not in observation_space.spaces:
            raise ConfigError(
                f"policy.observation={observation_key!r} is not an observation of {env_ids[0]}; "
                f"choose one of {sorted(k for k in observation_space.spaces if k != 'instruction')}"
            )
        shape = tuple(observation_space[observation_key].shape)
        config = SmallNetConfig(encoder, shape, action_dim, discrete, hidden=hidden, popart=popart)  # type: ignore[arg-type]
        return cls(SmallActorCriticNet(config), observation_key, env_ids, device)

    @classmethod
    def load(cls, directory: str | Path, env_ids: Sequence[str], device: torch.device) -> SmallNetAgent:
        """A net written by ``export`` (e.g. the ``policy/`` folder of a finished run), to train further."""
        path = Path(directory)
        if not (path / "small_net.json").is_file():
            raise ConfigError(f"{path} holds no small_net.json; point policy.path at a run's policy/ folder")
        document = json.loads((path / "small_net.json").read_text())
        observation_key = document.pop("observation_key")
        document["input_shape"] = tuple(document["input_shape"])
        net = SmallActorCriticNet(SmallNetConfig(**document))
        load_model(net, str(path / "model.safetensors"))
        return cls(net, observation_key, env_ids, device)

    def _observations(self, observations: Any) -> torch.Tensor:
        if isinstance(observations, dict):
            return torch.from_numpy(np.asarray(observations[self.observation_key])).to(self.device)
        stacked = np.stack([np.asarray(row[self.observation_key]) for row in observations])
        return torch.from_numpy(stacked).to(self.device)

    def _to_returns(self, value: torch.Tensor) -> torch.Tensor:
        if self.popart is None:
            return value
        return self.popart.denormalize(value, torch.zeros_like(value, dtype=torch.long))

    def act(self, observations: Any, greedy: bool = False) -> ActResult:
        """Sample actions (or take the most likely) for the batch."""
        obs = self._observations(observations)
        with torch.inference_mode():
            head, value = self.net(obs)
            actions, log_prob = self.net.sample(head, greedy)
            value = self._to_returns(value)
        env_actions = actions.cpu().numpy()
        env_actions = env_actions.tolist() if self.net.log_std is None else list(env_actions)  # cheapest for envs
        return ActResult(env_actions, {"obs": obs, "action": actions}, log_prob, value, self._tasks[: len(obs)])

    def evaluate(self, inputs: dict[str, torch.Tensor]) -> EvalResult:
        """Log-prob, entropy / max entropy and critic output for stored observations and actions."""
        head, value = self.net(inputs["obs"])
        log_prob, entropy = self.net.log_prob_entropy(head, inputs["action"])
        return EvalResult(log_prob, entropy / self._max_entropy, value)

    def value_of(self, observations: Sequence[dict[str, Any]], indices: Sequence[int]) -> torch.Tensor:
        """Values of the given single observations."""
        del indices
        with torch.inference_mode():
            return self._to_returns(self.net(self._observations(list(observations)))[1])

    def reset(self, done: np.ndarray) -> None:
        """Feed-forward nets keep no per-env state."""

    def after_update(self) -> None:
        """Nothing is cached."""

    def critic_parameters(self) -> list[nn.Parameter]:
        """The net's critic torso (unless shared with the actor) and value head or PopArt."""
        return self.net.critic_parameters()

    def reference_log_prob(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Log-prob under the frozen copy of the starting net."""
        with torch.inference_mode():
            head, _ = self.reference(inputs["obs"])
            return self.reference.log_prob_entropy(head, inputs["action"])[0]

    def sft_loss(self, samples: Sequence[dict[str, Any]]) -> torch.Tensor:
        """Behaviour cloning on the last step of each window (images or proprio, as the net reads)."""
        key = "images" if self.observation_key == "image" else "proprio"
        obs = torch.from_numpy(np.stack([np.asarray(sample[key])[-1] for sample in samples])).to(self.device)
        actions = torch.as_tensor(np.stack([np.asarray(sample["target_action"]) for sample in samples]))
        head, _ = self.net(obs)
        return -self.net.log_prob_entropy(head, actions.to(self.device))[0].mean()

    def evaluate_with_sft(
        self, inputs: dict[str, torch.Tensor], samples: Sequence[dict[str, Any]]
    ) -> tuple[EvalResult, torch.Tensor]:
        """``evaluate(inputs)`` and ``sft_loss(samples)``."""
        return self.evaluate(inputs), self.sft_loss(samples)

    def export(self, directory: Path) -> None:
        """``model.safetensors`` + ``small_net.json`` (the net's config); ``SmallNetAgent.load`` reads them."""
        directory.mkdir(parents=True, exist_ok=True)
        save_model(self.net, str(directory / "model.safetensors"), force_contiguous=True)
        document = {**asdict(self.net.config), "observation_key": self.observation_key}
        atomic_write_json(directory / "small_net.json", document, sort_keys=False)
