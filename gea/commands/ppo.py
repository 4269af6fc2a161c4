"""``gea ppo [overrides]``: stage-2 online RL (PPO, or the success-SFT / IQL ablations) on vector envs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from gea.config import load_job_config
from gea.train.ppo import PPOConfig, run_ppo

HELP = """usage: gea ppo [key=value ...]        (several processes: torchrun --nproc_per_node N -m gea.cli ppo ...)

Train a policy with PPO in vector envs; every rank steps its own envs and gradients are all-reduced.
Writes config.yaml, tensorboard/, checkpoints/ (resumable) and policy/ into out_dir.

Overrides (Hydra syntax), e.g.:
  ppo_recipe@_global_=procgen       a recipe from gea/configs/ppo_recipe/ (cartpole, procgen, gea)
  envs=[procgen:coinrun]            env ids every rank steps (repeated to num_envs)
  +rank_envs.1=[procgen:starpilot]  give rank 1 other envs (GEA splits its GPUs across tasks)
  num_envs=8 rollout_steps=128 epochs=4 minibatches=4 lr=3e-4 total_steps=1000000
  policy=mllm policy.path=runs/sft/policy        start the GEA policy from an SFT checkpoint
  image_size=64                     observation size of every env
  sft.dataset=data/expert sft.weight=0.1         joint SFT loss on an episode dataset
  algo=ppo|success_sft|iql          PPO or an ablation on the policy's own rollouts
  resume=true out_dir=outputs/ppo   continue from the newest checkpoint in out_dir
"""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea ppo``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
        return 0
    config = load_job_config("ppo", PPOConfig, argv)
    result = run_ppo(config)
    summary = {key: value for key, value in asdict(result).items() if key != "history"}
    print(json.dumps(summary, indent=2))
    return 0
