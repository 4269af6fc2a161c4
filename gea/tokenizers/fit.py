"""The ``gea tokenizer fit`` job: train the residual VQ-VAE on a dataset's continuous actions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gea.config import save_config, to_dict
from gea.files import atomic_write_json
from gea.schema import option
from gea.tokenizers.data import load_actions
from gea.tokenizers.rvq import ResidualVQTokenizer, RVQTrainConfig
from gea.tokenizers.rvq_model import RVQConfig


@dataclass
class TokenizerFitConfig:
    """Schema of ``gea tokenizer fit``: the actions to fit on, the RVQ's shape and its training."""

    data: str = option("???", "continuous actions: a .npy/.npz file or an episode dataset folder")
    out: str = option("runs/tokenizer", "where tokenizer/, metrics.json, tensorboard/ and config.yaml are written")
    embodiment: str = option("default", "name of the actions in a plain .npy file")
    holdout_fraction: float = option(0.1, "fraction of actions held out for the reconstruction MSE", minimum=0)
    progress: bool = option(True, "show a progress bar")
    tokenizer: RVQConfig = option(factory=RVQConfig, help="shape of the residual VQ-VAE")
    train: RVQTrainConfig = option(factory=RVQTrainConfig, help="its optimisation")


def run_fit(config: TokenizerFitConfig) -> dict[str, Any]:
    """Fit, log scalars to TensorBoard, save the tokenizer and ``metrics.json`` under ``config.out``.

    Returns the metrics: held-out and training MSE (normalized actions), per embodiment and overall.
    """
    from torch.utils.tensorboard import SummaryWriter

    out = Path(config.out)
    save_config(config, out / "config.yaml")
    data = load_actions(config.data, config.embodiment)
    train, heldout = data.split(config.holdout_fraction, config.train.seed)
    tokenizer = ResidualVQTokenizer(config.tokenizer, config.train)
    with SummaryWriter(str(out / "tensorboard")) as writer:

        def log(step: int, metrics: dict[str, float]) -> None:
            for name, value in metrics.items():
                writer.add_scalar(f"train/{name}", value, step)

        tokenizer.fit(train, progress=config.progress, on_log=log)
        present = {name: array for name, array in heldout.items() if len(array)}
        metrics: dict[str, Any] = {
            "train_mse": tokenizer.reconstruction_mse(train),
            "heldout_mse": tokenizer.reconstruction_mse(present) if present else None,
            "heldout_mse_per_embodiment": {
                name: tokenizer.reconstruction_mse({name: a}) for name, a in present.items()
            },
            "train_actions": {name: len(array) for name, array in train.items()},
            "heldout_actions": {name: len(array) for name, array in heldout.items()},
            "config": to_dict(config),
        }
        if metrics["heldout_mse"] is not None:
            writer.add_scalar("heldout/mse", metrics["heldout_mse"], config.train.steps)
    tokenizer.save(out / "tokenizer")
    atomic_write_json(out / "metrics.json", metrics, sort_keys=False)
    return metrics


def summary(metrics: dict[str, Any]) -> str:
    """Human-readable result lines."""
    lines = [f"train MSE {metrics['train_mse']:.6f}"]
    if metrics["heldout_mse"] is not None:
        lines.append(f"held-out MSE {metrics['heldout_mse']:.6f}")
    for name, value in metrics["heldout_mse_per_embodiment"].items():
        lines.append(f"  {name}: held-out MSE {value:.6f}")
    return "\n".join(lines) + "\n" + json.dumps(metrics["heldout_actions"])
