"""``gea expert train ENV_ID [key=value ...]`` and ``gea expert list``: SB3 RL experts for Procgen and Atari."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from gea.agents.experts.sb3_expert import RECORD_FILE, experts_dir
from gea.config_help import help_text
from gea.errors import MissingDependencyError

USAGE = """usage: gea expert train ENV_ID [key=value ...]
       gea expert list"""
ABOUT = """train  Train a Stable-Baselines3 PPO (CnnPolicy) expert on ENV_ID's image, evaluate it and a random
       policy on the same seeds, and save <out_dir>/<env-slug>/{model.zip,expert.json,config.yaml,tensorboard/}.
       The expert is then used by `gea collect` / `gea eval agents=[expert]` for that env id.
list   Show the trained experts in the experts folder with their recorded returns.

The experts folder is $GEA_EXPERTS_DIR, else ~/.cache/gea/experts. Any SB3 zip can serve as an expert:
gea eval agents=[sb3:/path/model.zip], or in Python gea.agents.experts.sb3_expert.register_sb3_expert(ENV_ID, ZIP)."""


def full_help() -> str:
    """``gea expert --help``: usage and every option of ``gea expert train``."""
    from gea.train.sb3_experts import ExpertTrainConfig

    return help_text("expert_train", ExpertTrainConfig, USAGE, ABOUT)


def _train(argv: Sequence[str]) -> int:
    from gea.config import load_job_config

    try:
        from gea.train.sb3_experts import ExpertTrainConfig, train_expert
    except ModuleNotFoundError as error:
        raise MissingDependencyError(
            f"`gea expert train` needs {error.name}; install it with: pip install 'gea[rl]'"
        ) from error
    env_id, overrides = argv[0], list(argv[1:])
    config = load_job_config("expert_train", ExpertTrainConfig, [f"env_id={env_id}", *overrides])
    record = train_expert(config)
    expert, random = record["expert_return"], record["random_return"]
    print(
        f"{record['env_id']}: {record['timesteps']} steps in {record['train_seconds']:.0f} s; "
        f"return over {len(expert['returns'])} episodes: expert {expert['mean']:.2f} ± {expert['std']:.2f}, "
        f"random {random['mean']:.2f} ± {random['std']:.2f}"
    )
    return 0


def _list() -> int:
    root = experts_dir()
    records = sorted(root.glob(f"*/{RECORD_FILE}")) if root.is_dir() else []
    if not records:
        print(f"no trained experts in {root} (train one with `gea expert train ENV_ID`)")
        return 0
    for path in records:
        record = json.loads(path.read_text())
        expert, random = record["expert_return"], record["random_return"]
        print(
            f"{record['env_id']:<28} {record['timesteps']:>9} steps  expert {expert['mean']:8.2f}  "
            f"random {random['mean']:8.2f}  {path.parent}"
        )
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea expert``."""
    if not argv or argv[0] in ("-h", "--help") or any(arg in ("-h", "--help") for arg in argv):
        print(full_help())
        return 0
    if argv[0] == "train" and len(argv) >= 2 and "=" not in argv[1]:
        return _train(argv[1:])
    if argv[0] == "list" and all(arg.startswith("imports=") for arg in argv[1:]):
        return _list()
    print(USAGE, file=sys.stderr)
    return 2
