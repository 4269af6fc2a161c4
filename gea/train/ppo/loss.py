"""The PPO loss on one minibatch: clipped policy objective, (PopArt-normalized) value loss, entropy bonus."""

from __future__ import annotations

from dataclasses import dataclass

import torch


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
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy

    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()  # the k3 estimator of KL(old || new)
        clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return LossOutput(loss, policy_loss.detach(), value_loss.detach(), entropy.detach(), approx_kl, clip_fraction)
