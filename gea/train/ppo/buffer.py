"""The rollout buffer (preallocated (steps, envs) tensors, the policy's inputs, GAE) and episode bookkeeping
(how each env's episodes ended: returns, successes, truncations, from either vector env's info format)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over a (T, N) rollout.

    ``dones[t]`` marks that the episode ended at step t (the next observation starts a new episode, so
    nothing is bootstrapped across it); truncated episodes must already carry ``gamma * V(final_obs)``
    in their last reward. Returns (advantages, returns = advantages + values).
    """
    # The recursion runs over time on the host in NumPy (one tiny vector op per step costs a fraction of torch's
    # dispatch); every term is computed in float32 in the same order as the textbook loop.
    reward, value, done, last = (tensor.detach().cpu().numpy() for tensor in (rewards, values, dones, last_value))
    not_done = 1.0 - done
    next_value = np.concatenate([value[1:], last[None]])
    deltas = reward + gamma * next_value * not_done - value
    decays = gamma * gae_lambda * not_done
    advantages = np.zeros_like(reward)
    running = np.zeros_like(last)
    for t in reversed(range(len(reward))):
        running = deltas[t] + decays[t] * running
        advantages[t] = running
    advantage = torch.from_numpy(advantages).to(rewards.device)
    return advantage, advantage + values


class InputStore:
    """What the policy needs to re-evaluate each step: dicts of tensors (preallocated) or any Python objects.

    The first ``put`` decides: a dict of tensors is kept in (T, N, ...) tensors and gathered by index; anything
    else (e.g. the GEA policy's prompt records and action token ids) is kept in a (T x N) list.
    """

    def __init__(self, steps: int, num_envs: int) -> None:
        self.steps, self.num_envs = steps, num_envs
        self.tensors: dict[str, torch.Tensor] | None = None
        self.objects: list[Any] | None = None

    def put(self, step: int, inputs: Any) -> None:
        """Store the inputs of all envs at ``step`` (a dict of (N, ...) tensors or a list of N objects)."""
        if isinstance(inputs, dict):
            if self.tensors is None:
                self.tensors = {
                    key: torch.zeros((self.steps, *value.shape), dtype=value.dtype, device=value.device)
                    for key, value in inputs.items()
                }
            for key, value in inputs.items():
                self.tensors[key][step].copy_(value)
            return
        if self.objects is None:
            self.objects = [None] * (self.steps * self.num_envs)
        self.objects[step * self.num_envs : (step + 1) * self.num_envs] = list(inputs)

    def gather(self, flat_indices: torch.Tensor) -> Any:
        """The inputs of flat (step * num_envs + env) indices: a dict of tensors or a list of objects."""
        if self.tensors is not None:
            # index_select copies whole rows (an image is one contiguous row): several times faster on CPU than
            # advanced indexing, which goes element by element.
            return {
                key: value.reshape(-1, *value.shape[2:]).index_select(0, flat_indices.to(value.device))
                for key, value in self.tensors.items()
            }
        assert self.objects is not None
        return [self.objects[index] for index in flat_indices.tolist()]

    def rows(self, start: int, stop: int) -> Any:
        """The inputs of flat indices ``start`` to ``stop`` (what ``gather`` returns for them, as views when
        they are tensors)."""
        if self.tensors is not None:
            return {key: value.reshape(-1, *value.shape[2:])[start:stop] for key, value in self.tensors.items()}
        assert self.objects is not None
        return self.objects[start:stop]


class RolloutBuffer:
    """One rollout of up to ``steps`` x ``num_envs`` transitions plus what PPO derives from it.

    A rollout may end early (DD-PPO preemption): ``finish(..., filled=k)`` keeps the first k steps, and ``flat``
    and everything derived from it see only those.
    """

    def __init__(self, steps: int, num_envs: int, device: torch.device) -> None:
        self.steps, self.num_envs, self.device = steps, num_envs, device
        self.filled = steps

        def zeros() -> torch.Tensor:
            return torch.zeros((steps, num_envs), device=device)

        self.rewards, self.dones, self.values, self.log_probs = zeros(), zeros(), zeros(), zeros()
        self.tasks = torch.zeros((steps, num_envs), dtype=torch.long, device=device)
        self.successes = np.zeros((steps, num_envs), dtype=bool)
        self.episode_ids = np.zeros((steps, num_envs), dtype=np.int64)
        self.inputs = InputStore(steps, num_envs)
        self.advantages, self.returns = zeros(), zeros()
        # On the CPU, outcomes are written through NumPy views of the same memory (no tensor per step).
        self._host_views = (self.rewards.numpy(), self.dones.numpy()) if self.rewards.device.type == "cpu" else None

    def add(
        self,
        step: int,
        inputs: Any,
        log_prob: torch.Tensor,
        value: torch.Tensor,
        tasks: torch.Tensor,
        episode_ids: np.ndarray,
    ) -> None:
        """Store what the policy saw and did at ``step`` (rewards and dones come with ``add_outcome``)."""
        self.inputs.put(step, inputs)
        self.log_probs[step] = log_prob
        self.values[step] = value
        self.tasks[step] = tasks
        self.episode_ids[step] = episode_ids

    def add_outcome(self, step: int, rewards: np.ndarray, dones: np.ndarray, successes: np.ndarray) -> None:
        """Store the env's answer to the actions of ``step``."""
        if self._host_views is not None:
            self._host_views[0][step], self._host_views[1][step] = rewards, dones
        else:
            self.rewards[step] = torch.from_numpy(rewards).to(self.device, torch.float32)
            self.dones[step] = torch.from_numpy(dones).to(self.device, torch.float32)
        self.successes[step] = successes

    def finish(self, last_value: torch.Tensor, gamma: float, gae_lambda: float, filled: int | None = None) -> None:
        """Compute advantages and returns over the first ``filled`` steps (default all), bootstrapping from
        ``last_value`` of the observation that follows them."""
        self.filled = self.steps if filled is None else filled
        rows = slice(0, self.filled)
        advantages, returns = compute_gae(
            self.rewards[rows], self.values[rows], self.dones[rows], last_value, gamma, gae_lambda
        )
        self.advantages, self.returns = torch.zeros_like(self.rewards), torch.zeros_like(self.rewards)
        self.advantages[rows], self.returns[rows] = advantages, returns

    def flat(self, tensor: torch.Tensor) -> torch.Tensor:
        """The filled steps of a (T, N, ...) tensor as (filled*N, ...) in step-major order (the order of
        ``InputStore.gather`` indices)."""
        return tensor[: self.filled].reshape(-1, *tensor.shape[2:])


@dataclass
class EpisodeEnd:
    """How env ``index``'s episode ended on a step."""

    index: int
    truncated: bool
    success: bool
    final_obs: dict[str, Any] | None
    restarted: bool


def episode_ends(terminated: np.ndarray, truncated: np.ndarray, infos: Any) -> list[EpisodeEnd]:
    """The envs whose episode ended this step, from either vector env's info format (``SAME_STEP`` autoreset)."""
    ends: list[EpisodeEnd] = []
    if not (terminated.any() or truncated.any()):
        return ends
    for index in np.flatnonzero(terminated | truncated):
        if isinstance(infos, list):  # MultiTaskVecEnv: one dict per env
            info = infos[index]
            final_info, final_obs = info.get("final_info", {}), info.get("final_obs")
            restarted = bool(info.get("worker_restarted", False))
        else:  # GeaVectorEnv: Gymnasium's dict of batched entries with "_key" masks
            batched = infos.get("final_info", {})
            present = np.ones(terminated.shape, bool)
            final_info = {
                key: value[index]
                for key, value in batched.items()
                if not key.startswith("_") and batched.get(f"_{key}", present)[index]
            }
            final_obs = infos["final_obs"][index] if "final_obs" in infos else None
            restarted = bool(final_info.get("worker_restarted", False))
        ends.append(
            EpisodeEnd(int(index), bool(truncated[index]), bool(final_info.get("success", False)), final_obs, restarted)
        )
    return ends


@dataclass
class EpisodeStats:
    """Running return/length per env and the finished episodes since the last ``drain``."""

    num_envs: int
    returns: np.ndarray = field(init=False)
    lengths: np.ndarray = field(init=False)
    episode_ids: np.ndarray = field(init=False)
    next_episode: int = field(init=False)
    finished: list[tuple[float, int, bool, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.returns = np.zeros(self.num_envs)
        self.lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.episode_ids = np.arange(self.num_envs, dtype=np.int64)
        self.next_episode = self.num_envs

    def step(self, rewards: np.ndarray, ends: Sequence[EpisodeEnd]) -> None:
        """Add this step's rewards; close the episodes that ended (recording return, length, success, env)."""
        self.returns += rewards
        self.lengths += 1
        for end in ends:
            if not end.restarted:
                record = (float(self.returns[end.index]), int(self.lengths[end.index]), end.success, end.index)
                self.finished.append(record)
            self.returns[end.index], self.lengths[end.index] = 0.0, 0
            self.episode_ids[end.index] = self.next_episode
            self.next_episode += 1

    def drain(self) -> list[tuple[float, int, bool, int]]:
        """The (return, length, success, env index) of episodes finished since the last call."""
        finished, self.finished = self.finished, []
        return finished
