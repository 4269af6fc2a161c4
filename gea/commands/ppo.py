"""``gea ppo [overrides]``: stage-2 online RL (PPO, or the success-SFT / IQL ablations) on vector envs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from gea.config import load_job_config
from gea.config_help import help_text
from gea.train.ppo.config import PPOConfig

USAGE = """usage: gea ppo [key=value ...]
       torchrun --nproc_per_node N -m gea.cli ppo [key=value ...]"""
ABOUT = """Train a policy with PPO (or the success-SFT / IQL ablations) in vector envs; every rank steps its own envs
and gradients are all-reduced. A recipe sets many keys at once (ppo_recipe@_global_=gea: the GEA policy with
LoRA from policy.path, an SFT checkpoint). Writes config.yaml, tensorboard/, checkpoints/ (resumable) and
policy/ into out_dir."""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea ppo``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text("ppo", PPOConfig, USAGE, ABOUT))
        return 0
    from gea.train.ppo import run_ppo

    config = load_job_config("ppo", PPOConfig, argv)
    result = run_ppo(config)
    summary = {key: value for key, value in asdict(result).items() if key != "history"}
    print(json.dumps(summary, indent=2))
    return 0
