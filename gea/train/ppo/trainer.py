"""The ``gea ppo`` iteration of one rank, top to bottom: collect a rollout, update, log, checkpoint; resumable.

One iteration (``PPOTrainer.train_one_update``) reads in three files: this one (rollout collection, the PPO
update and its loss), ``buffer`` (rollout storage, GAE, episode bookkeeping) and ``agent`` (what the policy does
when acting and when re-scoring stored steps). Values are in return units when acting and bootstrapping, and in
the critic's units (PopArt-normalized when the agent has PopArt) in the loss.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import OmegaConf
from torch import nn

from gea.agents.interface import split_observations
from gea.envs.vector import GeaVectorEnv, MultiTaskVecEnv
from gea.train.checkpoint import latest_checkpoint, rng_state, save_checkpoint
from gea.train.distributed import (
    DistributedContext,
    all_gather_cat,
    all_reduce_gradients,
    all_reduce_mean,
    all_reduce_sum,
    broadcast_module,
)
from gea.train.ppo.agent import PPOAgent
from gea.train.ppo.buffer import EpisodeEnd, EpisodeStats, RolloutBuffer, episode_ends
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.logging import RunLogger
from gea.train.ppo.preemption import RolloutPreemption

SFTBatches = Iterator[list[dict[str, Any]]]
VecEnv = GeaVectorEnv | MultiTaskVecEnv


@dataclass
class TrainResult:
    """What a finished (or resumed and finished) run reports."""

    global_step: int
    updates: int
    episodes: int
    mean_return: float
    success_rate: float
    frames_per_second: float
    history: list[dict[str, float]]


class PPOTrainer:
    """Owns the rank's envs, agent, optimizer and rollout buffer; ``train()`` runs to ``total_steps``."""

    def __init__(self, config: PPOConfig, context: DistributedContext, agent: PPOAgent, envs: VecEnv) -> None:
        self.config, self.context, self.agent, self.envs = config, context, agent, envs
        broadcast_module(agent.module)
        parameters = [parameter for parameter in agent.module.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.Adam(parameters, lr=config.lr, eps=config.adam_eps, fused=True)
        self.steps_per_update = config.batch_per_rank * context.world_size  # fewer when rollouts are preempted
        self.total_updates = max(1, math.ceil(config.total_steps / self.steps_per_update))
        self.preemption = RolloutPreemption(
            context, config.sync_frac, config.min_rollout_fraction, config.rollout_steps
        )
        self.global_step = 0  # env steps over all ranks
        self.num_envs = envs.num_envs
        self.buffer = RolloutBuffer(config.rollout_steps, self.num_envs, next(agent.module.parameters()).device)
        self.stats = EpisodeStats(self.num_envs)
        self.observations: Any = None
        self.restarts = 0
        self.sft = sft_batches(config, context)
        self.ablation = make_ablation(config, agent, self.optimizer)
        self.update_index = 0
        self.history: list[dict[str, float]] = []
        self.out_dir = Path(config.out_dir)
        self.checkpoints = self.out_dir / "checkpoints"
        self.config_yaml = OmegaConf.to_yaml(OmegaConf.structured(config))  # written into every checkpoint

    # ---------------------------------------------------------------------------------------- loop
    def train(self) -> TrainResult:
        """Collect and update until ``total_steps`` env steps (over all ranks) are done."""
        self.maybe_resume()
        logger = RunLogger(self.out_dir, self.context.is_main, self.config, self.total_updates * self.steps_per_update)
        logger.progress.update(self.global_step)
        self.reset_envs(seed=self.config.seed + 10_007 * self.context.rank + 1_000_003 * self.update_index)
        start, start_step = time.perf_counter(), self.global_step
        try:
            while self.global_step < self.config.total_steps:
                before = self.global_step
                metrics = self.train_one_update()
                self.update_index += 1
                elapsed = time.perf_counter() - start
                metrics["fps"] = (self.global_step - start_step) / max(elapsed, 1e-9)
                self.history.append({"step": float(self.global_step), **metrics})
                logger.log(self.global_step, metrics, self.global_step - before)
                last = self.global_step >= self.config.total_steps
                if self.config.checkpoint_every > 0 and (self.update_index % self.config.checkpoint_every == 0 or last):
                    self.save()
        finally:
            logger.close()
        if self.context.is_main:
            self.agent.export(self.out_dir / "policy")
        return self.result(time.perf_counter() - start, start_step)

    def train_one_update(self) -> dict[str, float]:
        """One rollout and one update of the configured algorithm; returns the metrics to log."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        buffer = self.collect_rollout()
        collected = all_reduce_sum(torch.tensor([buffer.filled * self.num_envs, buffer.filled], dtype=torch.float64))
        self.global_step += int(collected[0])
        metrics = self.episode_metrics()
        metrics["rollout_fraction"] = float(collected[1]) / (self.context.world_size * buffer.steps)
        if self.config.log_kl_start:
            metrics["kl_start"] = kl_to_start(self.agent, buffer, self.config.batch_per_rank // self.config.minibatches)
        if self.ablation is not None:
            losses = self.ablation.update(buffer, self.stats)
        else:
            critic_only = self.update_index < self.config.value_warmup_updates
            losses = ppo_update(self.agent, self.optimizer, buffer, self.config, self.sft, critic_only=critic_only)
        averaged = all_reduce_mean(torch.tensor(list(losses.values()), dtype=torch.float64))
        metrics.update(zip(losses, averaged.tolist(), strict=True))
        self.preemption.forget(self.update_index)  # every rank is past this rollout (the all-reduce above)
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        metrics["worker_restarts"] = float(self.restarts)
        return metrics

    # ---------------------------------------------------------------------------------------- rollout
    def reset_envs(self, seed: int) -> None:
        """Start fresh episodes in every env."""
        self.observations, _ = self.envs.reset(seed=seed)
        self.agent.reset(np.ones(self.num_envs, dtype=bool))

    def collect_rollout(self) -> RolloutBuffer:
        """Act and step ``rollout_steps`` times in every env (fewer when preempted: ``preemption``), then compute
        advantages and returns (GAE) over the steps collected."""
        buffer = self.buffer
        filled = buffer.steps
        for step in range(buffer.steps):
            if self.preemption.should_stop(self.update_index, step):
                filled = step
                break
            acted = self.agent.act(self.observations)
            buffer.add(step, acted.inputs, acted.log_prob, acted.value, acted.tasks, self.stats.episode_ids)
            observations, rewards, terminated, truncated, infos = self.envs.step(acted.env_actions)
            ends = episode_ends(terminated, truncated, infos)
            learning_rewards = self.bootstrap_truncated(rewards, ends)
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
        if filled == buffer.steps:
            self.preemption.finished(self.update_index)
        last_value = self.agent.value_of(split_observations(self.observations), list(range(self.num_envs)))
        buffer.finish(last_value.to(buffer.device), self.config.gamma, self.config.gae_lambda, filled)
        return buffer

    def bootstrap_truncated(self, rewards: np.ndarray, ends: list[EpisodeEnd]) -> np.ndarray:
        """``r + gamma * V(final_obs)`` where an episode was cut off (time limit or a restarted worker)."""
        cut = [end for end in ends if end.truncated and end.final_obs is not None]
        if not cut:
            return rewards
        values = self.agent.value_of([end.final_obs for end in cut], [end.index for end in cut]).cpu().numpy()
        rewards = rewards.copy()
        for end, value in zip(cut, values, strict=True):
            rewards[end.index] += self.config.gamma * float(value)
        return rewards

    # ---------------------------------------------------------------------------------------- bookkeeping
    def learning_rate(self) -> float:
        """The learning rate of the current update (linearly annealed to 0 with ``anneal_lr``)."""
        if not self.config.anneal_lr:
            return self.config.lr
        return self.config.lr * max(0.0, 1.0 - self.global_step / self.config.total_steps)

    def episode_metrics(self) -> dict[str, float]:
        """Return, success and length of the episodes that finished in this rollout, over all ranks."""
        finished = self.stats.drain()
        sums = torch.tensor(
            [len(finished), sum(f[0] for f in finished), sum(f[2] for f in finished), sum(f[1] for f in finished)],
            dtype=torch.float64,
        )
        count, total_return, successes, length = all_reduce_sum(sums).tolist()
        if count == 0:
            return {"episodes": 0.0}
        return {
            "episodes": count,
            "return": total_return / count,
            "success": successes / count,
            "episode_length": length / count,
        }

    def result(self, elapsed: float, start_step: int) -> TrainResult:
        """Summary of the run from the logged history (last 10 updates with finished episodes)."""
        recent = [row for row in self.history if "return" in row][-10:]
        return TrainResult(
            global_step=self.global_step,
            updates=self.update_index,
            episodes=int(sum(row.get("episodes", 0.0) for row in self.history)),
            mean_return=float(np.mean([row["return"] for row in recent])) if recent else float("nan"),
            success_rate=float(np.mean([row["success"] for row in recent])) if recent else float("nan"),
            frames_per_second=(self.global_step - start_step) / max(elapsed, 1e-9),
            history=self.history,
        )

    # ---------------------------------------------------------------------------------------- checkpoints
    def maybe_resume(self) -> None:
        """With ``resume=true``, load the newest checkpoint of ``out_dir`` (model, optimizer, RNG, counters)."""
        checkpoint = latest_checkpoint(self.checkpoints) if self.config.resume else None
        if checkpoint is None:
            return
        checkpoint.load_model(self.agent.module)
        checkpoint.load_optimizer(self.optimizer)
        checkpoint.restore_rng(self.context.rank)
        state = checkpoint.trainer_state
        self.update_index = int(state["update"])
        self.global_step = int(state.get("global_step", self.update_index * self.steps_per_update))
        self.history = list(state.get("history", []))
        self.agent.after_update()

    def save(self) -> None:
        """Write a checkpoint (rank 0 writes; every rank contributes its RNG state)."""
        states = [rng_state()]
        if self.context.distributed:
            gathered: list[Any] = [None] * self.context.world_size
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if self.context.is_main:
            save_checkpoint(
                self.checkpoints,
                self.global_step,
                self.agent.module,
                self.optimizer,
                None,
                {"update": self.update_index, "global_step": self.global_step, "history": self.history},
                self.config_yaml,
                keep=self.config.keep_checkpoints,
                rank_rng_states=states,
            )
        if self.context.distributed:
            dist.barrier()


# -------------------------------------------------------------------------------------------- update
def ppo_update(
    agent: PPOAgent,
    optimizer: torch.optim.Optimizer,
    buffer: RolloutBuffer,
    config: PPOConfig,
    sft_batches: SFTBatches | None = None,
    permutation: Callable[[int], torch.Tensor] = torch.randperm,
    critic_only: bool = False,
) -> dict[str, float]:
    """``config.epochs`` passes over the rollout in ``config.minibatches`` shuffled minibatches of clipped PPO
    (plus ``config.sft.weight`` x the SFT loss on a batch of dataset windows, when ``sft_batches`` is given).

    ``critic_only`` (the first ``value_warmup_updates``): only the value loss, and only the critic's parameters
    move, so a fresh critic learns the policy's returns before its advantages steer the policy."""
    targets, old_values = critic_targets(agent, buffer)
    only = agent.critic_parameters() if critic_only else None
    old_log_probs, advantages = buffer.flat(buffer.log_probs), buffer.flat(buffer.advantages)
    size = len(targets)
    stats = UpdateStats()
    for _ in range(config.epochs):
        order = permutation(size).to(targets.device)
        # Every rank takes the same number of optimizer steps (their all-reduces pair up), also when preempted
        # rollouts left them different numbers of samples; gradients are then averaged per sample.
        for index in torch.tensor_split(order, config.minibatches):
            inputs = buffer.inputs.gather(index)
            if sft_batches is not None and not critic_only:  # the SFT windows are scored with the minibatch
                evaluated, sft = agent.evaluate_with_sft(inputs, next(sft_batches))
            else:
                evaluated = agent.evaluate(inputs)
            terms = MinibatchTerms(
                new_log_prob=evaluated.log_prob,
                old_log_prob=old_log_probs[index],
                advantages=advantages[index],
                new_value=evaluated.value,
                old_value=old_values[index],
                target=targets[index],
                entropy=evaluated.entropy,
            )
            out = ppo_loss(
                terms,
                config.clip,
                config.value_coef,
                config.entropy_coef,
                config.clip_value,
                config.normalize_advantages,
            )
            loss = out.critic_loss if critic_only else out.loss
            if sft_batches is not None and not critic_only:
                loss = loss + config.sft.weight * sft
                stats.add(sft_loss=sft.item())
            grad_norm = optimizer_step(agent, optimizer, loss, config.max_grad_norm, samples=len(index), only=only)
            stats.add(
                policy_loss=out.policy_loss.item(),
                value_loss=out.value_loss.item(),
                entropy=out.entropy.item(),
                approx_kl=out.approx_kl.item(),
                clip_fraction=out.clip_fraction.item(),
                grad_norm=float(grad_norm),
            )
    return stats.means()


def critic_targets(agent: PPOAgent, buffer: RolloutBuffer) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns and acting-time values in the critic's units; moves PopArt statistics first (all ranks alike)."""
    returns, values, tasks = buffer.flat(buffer.returns), buffer.flat(buffer.values), buffer.flat(buffer.tasks)
    if agent.popart is None:
        return returns, values
    agent.popart.update(all_gather_cat(returns), all_gather_cat(tasks))
    return agent.popart.normalize(returns, tasks), agent.popart.normalize(values, tasks)


@dataclass
class MinibatchTerms:
    """What the loss needs for one minibatch. Log-probs are sums over an action's tokens (or its dimensions)."""

    new_log_prob: torch.Tensor
    old_log_prob: torch.Tensor
    advantages: torch.Tensor
    new_value: torch.Tensor  # in the critic's (normalized) units
    old_value: torch.Tensor  # the acting-time value, same units
    target: torch.Tensor  # returns, same units
    entropy: torch.Tensor  # already normalized per environment (divided by its maximum entropy)


@dataclass
class LossOutput:
    """The total loss and the numbers worth logging."""

    loss: torch.Tensor
    critic_loss: torch.Tensor  # value_coef x value loss, with its graph (the loss of a value-only update)
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor


def ppo_loss(
    terms: MinibatchTerms,
    clip: float,
    value_coef: float,
    entropy_coef: float,
    clip_value: float | None = None,
    normalize_advantages: bool = True,
) -> LossOutput:
    """PPO-clip (Schulman et al. 2017) over the summed log-probability of each action."""
    advantages = terms.advantages
    if normalize_advantages and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

    log_ratio = terms.new_log_prob - terms.old_log_prob
    ratio = log_ratio.exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    policy_loss = torch.max(unclipped, clipped).mean()

    if clip_value is None:
        value_loss = 0.5 * (terms.new_value - terms.target).square().mean()
    else:
        value_clipped = terms.old_value + (terms.new_value - terms.old_value).clamp(-clip_value, clip_value)
        worst = torch.max((terms.new_value - terms.target).square(), (value_clipped - terms.target).square())
        value_loss = 0.5 * worst.mean()

    entropy = terms.entropy.mean()
    critic_loss = value_coef * value_loss
    loss = policy_loss + critic_loss - entropy_coef * entropy

    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()  # the k3 estimator of KL(old || new)
        clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return LossOutput(
        loss, critic_loss, policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl, clip_fraction
    )


def optimizer_step(
    agent: PPOAgent,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    max_grad_norm: float,
    samples: int | None = None,
    only: Sequence[nn.Parameter] | None = None,
) -> torch.Tensor:
    """Backward, average gradients over ranks (per sample when ``samples``, this rank's minibatch size, is
    given), clip, step; returns the gradient norm before clipping. With ``only``, every other parameter keeps no
    gradient, so the optimizer leaves it as it is."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    if only is not None:
        kept = {id(parameter) for parameter in only}
        for parameter in parameters:
            if id(parameter) not in kept:
                parameter.grad = None
        parameters = [parameter for parameter in parameters if id(parameter) in kept]
    all_reduce_gradients(parameters, weight=samples)
    norm = nn.utils.clip_grad_norm_(parameters, max_grad_norm, foreach=True)
    optimizer.step()
    agent.after_update()
    return norm


@dataclass
class UpdateStats:
    """Means over all minibatches of one update (averaged over ranks by the caller)."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **numbers: float) -> None:
        """Record one minibatch's numbers."""
        for key, number in numbers.items():
            self.values.setdefault(key, []).append(float(number))

    def means(self) -> dict[str, float]:
        """Mean of each recorded number."""
        return {key: sum(numbers) / len(numbers) for key, numbers in self.values.items()}


def kl_to_start(agent: PPOAgent, buffer: RolloutBuffer, chunk: int) -> float:
    """Mean KL(current || start) on the rollout's states (k3 estimator on the sampled actions), over ranks; exactly
    0 on a rank whose policy still is the start policy."""
    current = buffer.flat(buffer.log_probs)
    chunks = []
    for start in range(0, len(current), chunk):
        reference = agent.reference_log_prob(buffer.inputs.rows(start, min(start + chunk, len(current))))
        if reference is None:
            return float(all_reduce_mean(torch.zeros((), dtype=current.dtype, device=current.device)))
        chunks.append(reference)
    log_ratio = torch.cat(chunks).to(current.device) - current
    return float(all_reduce_mean(((log_ratio.exp() - 1.0) - log_ratio).mean()))


# -------------------------------------------------------------------------------------------- inputs
def sft_batches(config: PPOConfig, context: DistributedContext) -> SFTBatches | None:
    """Endless batches of dataset windows for the joint SFT term (None when no dataset is configured)."""
    if not config.sft.dataset or config.sft.weight == 0:
        return None
    from gea.rollouts.dataset import WindowDataset
    from gea.rollouts.dataset.windows import decode_window

    # A batch uses a few windows of each block the reader loads: only their images are decoded.
    dataset = WindowDataset(
        config.sft.dataset,
        context=1,
        seed=config.seed,
        rank=context.rank,
        world_size=context.world_size,
        decode_images=False,
    )

    def batches() -> SFTBatches:
        samples = iter(dataset)
        while True:
            yield [decode_window(next(samples)) for _ in range(config.sft.batch_size)]

    return batches()


def make_ablation(config: PPOConfig, agent: PPOAgent, optimizer: torch.optim.Optimizer) -> Any:
    """The update of ``algo=success_sft`` or ``algo=iql`` (``variants``), or None for PPO itself."""
    if config.algo == "ppo":
        return None
    from gea.train.ppo.variants import IQLTrainer, SuccessSFT

    return (
        SuccessSFT(config, agent, optimizer) if config.algo == "success_sft" else IQLTrainer(config, agent, optimizer)
    )
