"""GEA's ablations of online PPO on the policy's own rollouts: success-SFT (``algo=success_sft``), IQL (``algo=iql``).

- **Success-SFT** (filtered behaviour cloning): every rollout's episodes that end in success are added to
  a dataset (steps from earlier rollouts of the same episode included); the policy is then fine-tuned on
  that dataset by maximum likelihood.
- **IQL** (Kostrikov et al., 2022): every rollout is added to a replay dataset; twin Q and a V network are fit
  by expectile regression (no out-of-dataset actions are queried), and the policy by advantage-weighted
  regression, ``exp(beta * (Q - V))``. Implemented for small nets with discrete actions (Q over all actions).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import torch
from torch.nn import functional as F

from gea.agents.small_nets import SmallActorCriticNet
from gea.errors import ConfigError
from gea.train.distributed import all_reduce_gradients, all_reduce_sum
from gea.train.ppo.agent import PPOAgent, SmallNetAgent
from gea.train.ppo.buffer import EpisodeStats, RolloutBuffer
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.trainer import UpdateStats, optimizer_step


def take(inputs: Any, index: torch.Tensor) -> Any:
    """Rows ``index`` of stored inputs (a dict of tensors or a list)."""
    if isinstance(inputs, dict):
        return {key: value[index.to(value.device)] for key, value in inputs.items()}
    return [inputs[i] for i in index.tolist()]


def concat(first: Any, second: Any) -> Any:
    """Stored inputs of ``first`` followed by ``second`` (either may be None)."""
    if first is None:
        return second
    if second is None:
        return first
    if isinstance(first, dict):
        return {key: torch.cat([first[key], second[key]]) for key in first}
    return list(first) + list(second)


def size_of(inputs: Any) -> int:
    """Number of rows of stored inputs."""
    if inputs is None:
        return 0
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


class SuccessSFT:
    """Keeps the steps of successful episodes of the policy's own rollouts and fine-tunes on them."""

    def __init__(
        self, config: PPOConfig, agent: PPOAgent, optimizer: torch.optim.Optimizer, capacity: int = 100_000
    ) -> None:
        self.config, self.agent, self.optimizer, self.capacity = config, agent, optimizer, capacity
        self.data: Any = None
        self.carry: Any = None  # steps of episodes still running at the end of the last rollout
        self.carry_ids = torch.zeros(0, dtype=torch.long)

    def update(self, buffer: RolloutBuffer, stats: EpisodeStats) -> dict[str, float]:
        """Add this rollout's successful episodes, then ``epochs`` of maximum likelihood on all kept steps."""
        self._add_successes(buffer, stats)
        kept = size_of(self.data)
        kept_everywhere = float(all_reduce_sum(torch.tensor([float(kept)])).item())
        if kept_everywhere == 0:
            return {"sft_loss": 0.0, "success_steps": 0.0}
        # Every rank takes the same number of optimizer steps (gradients are all-reduced); a rank without
        # successes yet contributes zero gradients.
        minibatches = self.config.success_sft.minibatches
        update = UpdateStats()
        for _ in range(self.config.success_sft.epochs):
            order = torch.randperm(kept)
            for chunk in order.tensor_split(minibatches) if kept else [None] * minibatches:
                if chunk is None or len(chunk) == 0:
                    loss = sum(parameter.sum() * 0.0 for parameter in self.agent.module.parameters())
                else:
                    loss = -self.agent.evaluate(take(self.data, chunk)).log_prob.mean()
                optimizer_step(self.agent, self.optimizer, loss, self.config.max_grad_norm)  # type: ignore[arg-type]
                update.add(sft_loss=float(loss.detach()))
        return {**update.means(), "success_steps": kept_everywhere}

    def _add_successes(self, buffer: RolloutBuffer, stats: EpisodeStats) -> None:
        episode_ids = torch.from_numpy(buffer.episode_ids.reshape(-1))
        ended = torch.from_numpy(buffer.flat(buffer.dones).cpu().numpy() > 0)
        succeeded = torch.from_numpy(buffer.successes.reshape(-1))
        winners = episode_ids[ended & succeeded]
        everything = buffer.inputs.gather(torch.arange(len(episode_ids)))
        steps = concat(self.carry, everything)
        ids = torch.cat([self.carry_ids, episode_ids])
        self.data = concat(self.data, take(steps, torch.nonzero(torch.isin(ids, winners)).flatten()))
        running = torch.from_numpy(stats.episode_ids)
        keep = torch.nonzero(torch.isin(ids, running)).flatten()
        self.carry, self.carry_ids = take(steps, keep), ids[keep]
        overflow = size_of(self.data) - self.capacity
        if overflow > 0:
            self.data = take(self.data, torch.arange(overflow, size_of(self.data)))


def expectile_loss(difference: torch.Tensor, expectile: float) -> torch.Tensor:
    """Asymmetric squared loss |tau - 1(u < 0)| u^2 (IQL's value objective)."""
    weight = torch.where(difference > 0, expectile, 1.0 - expectile)
    return (weight * difference.square()).mean()


class IQLTrainer:
    """Offline IQL on all rollouts collected so far by the policy itself (small nets, discrete actions)."""

    def __init__(self, config: PPOConfig, agent: PPOAgent, optimizer: torch.optim.Optimizer) -> None:
        if not isinstance(agent, SmallNetAgent) or agent.net.log_std is not None:
            raise ConfigError("algo=iql is implemented for policy=small with discrete actions")
        self.config, self.agent, self.optimizer = config, agent, optimizer
        critic_config = replace(agent.net.config, popart=False)
        device = agent.device
        self.q_nets = torch.nn.ModuleList([SmallActorCriticNet(critic_config) for _ in range(2)]).to(device)
        self.v_net = SmallActorCriticNet(critic_config).to(device)
        self.q_targets = copy.deepcopy(self.q_nets).requires_grad_(False)
        self.critic_optimizer = torch.optim.Adam([*self.q_nets.parameters(), *self.v_net.parameters()], lr=config.lr)
        self.replay: dict[str, torch.Tensor] | None = None

    def update(self, buffer: RolloutBuffer, stats: EpisodeStats) -> dict[str, float]:
        """Add the rollout to the replay data, then ``updates_per_rollout`` IQL steps on random batches."""
        del stats  # every transition counts, whether its episode ended or not
        self._add(buffer)
        assert self.replay is not None
        iql, stats = self.config.iql, UpdateStats()
        size = len(self.replay["reward"])
        for _ in range(iql.updates_per_rollout):
            batch = {
                key: value[torch.randint(size, (min(iql.batch_size, size),))] for key, value in self.replay.items()
            }
            stats.add(**self._step(batch))
        return stats.means()

    def _add(self, buffer: RolloutBuffer) -> None:
        """Transitions (s, a, r, done, s') of the rollout; the last step's s' is itself, masked by ``valid``."""
        inputs = buffer.inputs.tensors
        if inputs is None:
            raise ConfigError("algo=iql needs tensor inputs (policy=small)")
        obs, action = inputs["obs"], inputs["action"]
        next_obs = torch.cat([obs[1:], obs[-1:]])
        valid = torch.ones_like(buffer.rewards)
        valid[-1] = 0.0
        rollout = {
            "obs": buffer.flat(obs),
            "action": buffer.flat(action),
            "reward": buffer.flat(buffer.rewards),
            "done": buffer.flat(buffer.dones),
            "next_obs": buffer.flat(next_obs),
            "valid": buffer.flat(valid),
        }
        if self.replay is None:
            self.replay = rollout
        else:
            self.replay = {key: torch.cat([self.replay[key], value]) for key, value in rollout.items()}

    def _step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        iql, gamma = self.config.iql, self.config.gamma
        action = batch["action"].long().unsqueeze(-1)
        with torch.no_grad():
            target_q = torch.min(*[net(batch["obs"])[0].gather(-1, action).squeeze(-1) for net in self.q_targets])
            next_v = self.v_net(batch["next_obs"])[1]
            # The rollout's last step has no stored successor: bootstrap it from its own state's value.
            next_v = torch.where(batch["valid"] > 0, next_v, self.v_net(batch["obs"])[1])
            q_target = batch["reward"] + gamma * (1.0 - batch["done"]) * next_v
        value = self.v_net(batch["obs"])[1]
        value_loss = expectile_loss(target_q - value, iql.expectile)
        q_loss = sum(F.mse_loss(net(batch["obs"])[0].gather(-1, action).squeeze(-1), q_target) for net in self.q_nets)
        critic_loss = value_loss + q_loss
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        all_reduce_gradients([*self.q_nets.parameters(), *self.v_net.parameters()])
        self.critic_optimizer.step()
        with torch.no_grad():
            for target, online in zip(self.q_targets.parameters(), self.q_nets.parameters(), strict=True):
                target.lerp_(online, iql.target_update)
            weights = torch.exp(iql.temperature * (target_q - value.detach())).clamp(max=iql.max_weight)
        log_prob = self.agent.evaluate({"obs": batch["obs"], "action": batch["action"]}).log_prob
        policy_loss = -(weights * log_prob).mean()
        optimizer_step(self.agent, self.optimizer, policy_loss, self.config.max_grad_norm)
        return {"value_loss": value_loss.item(), "q_loss": float(q_loss.detach()), "policy_loss": policy_loss.item()}
