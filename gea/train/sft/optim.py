"""AdamW over the trainable parameters and a cosine learning-rate schedule after a linear warmup."""

from __future__ import annotations

import math

import torch
from torch import nn

from gea.errors import ConfigError
from gea.train.sft.config import OptimConfig

FUSED_DEVICES = ("cpu", "cuda")
"""Devices where every parameter type the policies use has torch's fused AdamW kernel."""


def make_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the parameters of ``model`` that require gradients."""
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not parameters:
        raise ConfigError("the model has no trainable parameters; enable LoRA or unfreeze part of the model")
    beta1, beta2 = config.betas
    # The fused kernel (one pass per parameter instead of foreach's several) for plain tensors on CPU or CUDA, as
    # the HF Trainer's default ``adamw_torch_fused``; FSDP's sharded parameters keep the foreach implementation.
    fused = all(type(parameter) is nn.Parameter and parameter.device.type in FUSED_DEVICES for parameter in parameters)
    return torch.optim.AdamW(
        parameters,
        lr=config.lr,
        betas=(beta1, beta2),
        weight_decay=config.weight_decay,
        **({"fused": True} if fused else {"foreach": True}),
    )


def cosine_with_warmup(step: int, total: int, warmup: int, min_fraction: float = 0.0) -> float:
    """The learning-rate multiplier at ``step``: linear from 1/warmup to 1, then cosine down to ``min_fraction``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_fraction + (1.0 - min_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following ``cosine_with_warmup`` over ``total_steps`` optimizer steps."""
    warmup = int(config.warmup_fraction * total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_with_warmup(step, total_steps, warmup, config.min_lr_fraction)
    )
