"""The critic: an MLP over the LLM's last hidden state and mean-pooled visual tokens, ending in a PopArt layer."""

from __future__ import annotations

import torch
from torch import nn


class PopArt(nn.Module):
    """Multi-task PopArt output layer (van Hasselt et al. 2016; Hessel et al. 2019).

    Keeps running mean and standard deviation of the returns of each task and predicts *normalized* values;
    ``update`` moves the statistics and rescales the weights so that unnormalized outputs stay the same.
    """

    def __init__(self, in_features: int, tasks: int = 1, beta: float = 3e-4, min_std: float = 1e-4) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, tasks)
        self.beta = beta
        self.min_std = min_std
        self.register_buffer("mean", torch.zeros(tasks))
        self.register_buffer("second_moment", torch.ones(tasks))

    @property
    def std(self) -> torch.Tensor:
        """Per-task standard deviation of returns."""
        return (self.second_moment - self.mean.square()).clamp(min=self.min_std**2).sqrt()

    def forward(self, features: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
        """Normalized value of each row for its task index."""
        return self.linear(features).gather(-1, tasks.long().unsqueeze(-1)).squeeze(-1)

    def denormalize(self, values: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
        """Normalized values -> returns."""
        tasks = tasks.long()
        return values * self.std[tasks].to(values.dtype) + self.mean[tasks].to(values.dtype)

    def normalize(self, returns: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
        """Returns -> normalized targets."""
        tasks = tasks.long()
        return (returns - self.mean[tasks].to(returns.dtype)) / self.std[tasks].to(returns.dtype)

    @torch.no_grad()
    def update(self, returns: torch.Tensor, tasks: torch.Tensor) -> None:
        """Move each seen task's statistics towards the batch and rescale the layer to preserve outputs."""
        returns, tasks = returns.detach().float().flatten(), tasks.detach().long().flatten()
        old_mean, old_std = self.mean.clone(), self.std.clone()
        for task in tasks.unique().tolist():
            values = returns[tasks == task]
            self.mean[task] = (1 - self.beta) * self.mean[task] + self.beta * values.mean()
            self.second_moment[task] = (1 - self.beta) * self.second_moment[task] + self.beta * values.square().mean()
        new_std = self.std
        weight, bias = self.linear.weight, self.linear.bias
        weight.mul_((old_std / new_std).unsqueeze(-1).to(weight.dtype))
        bias.copy_(((old_std * bias.float() + old_mean - self.mean) / new_std).to(bias.dtype))


class ValueHead(nn.Module):
    """``layers``-layer MLP on [last hidden state before the action tokens, mean visual token] -> PopArt value."""

    def __init__(self, hidden_size: int, width: int = 256, layers: int = 4, tasks: int = 1, beta: float = 3e-4) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        size = 2 * hidden_size
        for _ in range(max(layers - 1, 0)):
            blocks += [nn.Linear(size, width), nn.GELU()]
            size = width
        self.mlp = nn.Sequential(*blocks)
        self.popart = PopArt(size, tasks=tasks, beta=beta)

    def forward(self, last_hidden: torch.Tensor, visual_mean: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
        """Normalized values, one per row."""
        features = torch.cat([last_hidden, visual_mean], dim=-1).to(self.popart.linear.weight.dtype)
        return self.popart(self.mlp(features), tasks)
