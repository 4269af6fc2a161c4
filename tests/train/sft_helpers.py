"""Shared pieces of the SFT tests: small real expert datasets (BabyAI bot, Meta-World scripted) and a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from gea.rollouts.collect import CollectConfig, collect
from gea.train.sft.config import DataConfig, OptimConfig, SFTConfig

BABYAI = "babyai:GoToRedBallNoDists"
METAWORLD = "metaworld:reach-v3"


def expert_datasets(factory: pytest.TempPathFactory) -> list[Path]:
    """A BabyAI bot dataset and a short Meta-World scripted one, collected once per test session."""
    root = factory.getbasetemp() / "sft_expert_data"
    paths = [root / "babyai", root / "metaworld"]
    if not (paths[1] / "meta" / "episodes.parquet").is_file():
        common = {"num_envs": 0, "image_size": 32, "progress": False, "row_group_rows": 40}
        collect(CollectConfig(envs=[BABYAI], episodes_per_task=8, out=str(paths[0]), **common))
        collect(CollectConfig(envs=[METAWORLD], episodes_per_task=2, max_episode_steps=12, out=str(paths[1]), **common))
    return paths


def tiny_config(paths: list[Path], out_dir: Path, **overrides: object) -> SFTConfig:
    """A fast SFT config on ``paths``: tiny policy, batch 4, 4 steps, CPU, 1 thread, no progress bar."""
    settings: dict[str, object] = {
        "data": DataConfig(paths=[str(path) for path in paths]),
        "optim": OptimConfig(lr=1e-3, warmup_fraction=0.25),
        "steps": 4,
        "batch_size": 4,
        "device": "cpu",
        "cpu_threads": 1,
        "out_dir": str(out_dir),
        "save_every": 0,
        "log_every": 1,
        "progress": False,
    }
    settings.update(overrides)
    return SFTConfig(**settings)  # type: ignore[arg-type]
