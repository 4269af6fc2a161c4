"""One PPO update on a finished rollout: PopArt targets, epochs x minibatches of clipped PPO (+ joint SFT)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gea.train.distributed import all_gather_cat, all_reduce_gradients, all_reduce_mean
from gea.train.ppo.agent import PPOAgent
from gea.train.ppo.buffer import RolloutBuffer
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.loss import MinibatchTerms, ppo_loss

SFTBatches = Iterator[list[dict[str, Any]]]


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


def critic_targets(agent: PPOAgent, buffer: RolloutBuffer) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns and acting-time values in the critic's units; moves PopArt statistics first (all ranks alike)."""
    returns, values, tasks = buffer.flat(buffer.returns), buffer.flat(buffer.values), buffer.flat(buffer.tasks)
    if agent.popart is None:
        return returns, values
    agent.popart.update(all_gather_cat(returns), all_gather_cat(tasks))
    return agent.popart.normalize(returns, tasks), agent.popart.normalize(values, tasks)


def optimizer_step(
    agent: PPOAgent, optimizer: torch.optim.Optimizer, loss: torch.Tensor, max_grad_norm: float
) -> torch.Tensor:
    """Backward, average gradients over ranks, clip, step; returns the gradient norm before clipping."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    all_reduce_gradients(parameters)
    norm = nn.utils.clip_grad_norm_(parameters, max_grad_norm, foreach=True)
    optimizer.step()
    agent.after_update()
    return norm


def ppo_update(
    agent: PPOAgent,
    optimizer: torch.optim.Optimizer,
    buffer: RolloutBuffer,
    config: PPOConfig,
    sft_batches: SFTBatches | None = None,
    permutation: Callable[[int], torch.Tensor] = torch.randperm,
) -> dict[str, float]:
    """``config.epochs`` passes over the rollout in ``config.minibatches`` shuffled minibatches."""
    targets, old_values = critic_targets(agent, buffer)
    old_log_probs, advantages = buffer.flat(buffer.log_probs), buffer.flat(buffer.advantages)
    size = len(targets)
    minibatch = size // config.minibatches
    stats = UpdateStats()
    for _ in range(config.epochs):
        order = permutation(size).to(targets.device)
        for start in range(0, size, minibatch):
            index = order[start : start + minibatch]
            evaluated = agent.evaluate(buffer.inputs.gather(index))
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
            loss = out.loss
            if sft_batches is not None:
                sft = agent.sft_loss(next(sft_batches))
                loss = loss + config.sft.weight * sft
                stats.add(sft_loss=sft.item())
            grad_norm = optimizer_step(agent, optimizer, loss, config.max_grad_norm)
            stats.add(
                policy_loss=out.policy_loss.item(),
                value_loss=out.value_loss.item(),
                entropy=out.entropy.item(),
                approx_kl=out.approx_kl.item(),
                clip_fraction=out.clip_fraction.item(),
                grad_norm=float(grad_norm),
            )
    return stats.means()


def kl_to_start(agent: PPOAgent, buffer: RolloutBuffer, chunk: int) -> float:
    """Mean KL(current || start) on the rollout's states (k3 estimator on the sampled actions), over ranks."""
    current = buffer.flat(buffer.log_probs)
    reference = torch.cat(
        [
            agent.reference_log_prob(buffer.inputs.gather(torch.arange(start, min(start + chunk, len(current)))))
            for start in range(0, len(current), chunk)
        ]
    ).to(current.device)
    log_ratio = reference - current
    return float(all_reduce_mean(((log_ratio.exp() - 1.0) - log_ratio).mean()))
