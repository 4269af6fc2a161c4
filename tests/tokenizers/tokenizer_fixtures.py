"""Shared helpers of the tokenizer tests: tiny RVQ settings and synthetic continuous actions."""

from __future__ import annotations

import numpy as np

from gea.tokenizers import RVQConfig, RVQTrainConfig


def tiny_rvq_configs(seed: int = 0, steps: int = 120) -> tuple[RVQConfig, RVQTrainConfig]:
    """A residual VQ-VAE small enough to train in about a second on one core."""
    model = RVQConfig(max_dim=8, latent_dim=16, hidden_dim=64, layers=2, num_quantizers=2, codebook_size=32)
    train = RVQTrainConfig(steps=steps, batch_size=128, lr=3e-3, warmup_steps=10, seed=seed, log_every=20)
    return model, train


def smooth_actions(count: int, dim: int, seed: int = 0) -> np.ndarray:
    """Actions on a low-dimensional curve, scaled into [-2, 3] so normalization matters."""
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=(count, 1))
    columns = [np.sin(phase * (k + 1) + k) for k in range(dim)]
    return (0.5 + 2.5 * np.concatenate(columns, axis=1)).astype(np.float32)
