"""``gea expert train ENV_ID [key=value ...]`` and ``gea expert list``: SB3 RL experts for Procgen and Atari."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence

from gea.agents.experts.sb3_expert import PACKAGED_EXPERTS_DIR, RECORD_FILE, experts_dir
from gea.config_help import help_text
from gea.errors import MissingDependencyError
from gea.table import format_table

USAGE = """usage: gea expert train ENV_ID [key=value ...]
       gea expert list"""
ABOUT = """train  Train a Stable-Baselines3 PPO (CnnPolicy) expert on ENV_ID's image, evaluate it and a random
       policy on the same seeds, and save <out_dir>/<env-slug>/{model.zip,expert.json,config.yaml,tensorboard/}.
       The expert is then used by `gea collect` / `gea eval agents=[expert]` for that env id.
list   Show every expert: the RL experts shipped with the package and those trained into the experts folder
       (with their recorded returns), then the built-in scripted experts and the env ids they serve.

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


def _rl_expert_rows() -> list[list[object]]:
    """One row per RL expert folder: the shipped ones, then the user's (a trained one replaces a shipped one)."""
    rows: list[list[object]] = []
    shipped: dict[object, list[object]] = {}
    for source, root in (("shipped", PACKAGED_EXPERTS_DIR), ("trained", experts_dir())):
        for path in sorted(root.glob(f"*/{RECORD_FILE}")) if root.is_dir() else []:
            try:
                record = json.loads(path.read_text())
                expert, random = record["expert_return"]["mean"], record["random_return"]["mean"]
                row = [record["env_id"], source, record["timesteps"], f"{expert:.2f}", f"{random:.2f}", path.parent]
            except (OSError, ValueError, KeyError, TypeError) as error:
                row = ["?", source, "-", "-", "-", f"{path.parent} (unreadable {RECORD_FILE}: {error!r})"]
            if source == "shipped":
                shipped[row[0]] = row
            elif row[0] in shipped:
                shipped[row[0]][1] = "shipped, replaced by the trained one"
            rows.append(row)
    return rows


def _served(patterns: list[str]) -> str:
    """``babyai:*, miniworld: Hallway, Maze`` (ids of one family share their prefix)."""
    families: dict[str, list[str]] = {}
    for pattern in patterns:
        family, _, name = pattern.partition(":")
        families.setdefault(family, []).append(name)
    return "; ".join(
        f"{family}:{'*' if names == ['*'] else ' ' + ', '.join(names)}" for family, names in families.items()
    )


def _list() -> int:
    from gea.agents.experts import registered_experts

    rows = _rl_expert_rows()
    print("RL experts (SB3 PPO on the 64 px image), used by `gea collect` and `gea eval agents=[expert]`:")
    headers = ["env", "source", "steps", "expert return", "random return", "folder"]
    print(format_table(headers, rows) if rows else "  none")
    rl_ids = {str(row[0]) for row in rows}
    builtin: dict[str, list[str]] = {}
    for pattern, module in registered_experts().items():
        if pattern not in rl_ids:
            builtin.setdefault(module.rsplit(".", 1)[-1], []).append(pattern)
    width = max(len(name) for name in builtin) if builtin else 0
    print("\nBuilt-in experts (scripted policies, bots, planners, oracles):")
    for name, patterns in builtin.items():
        print(
            textwrap.fill(
                _served(patterns), 118, initial_indent=f"  {name:<{width}}  ", subsequent_indent=" " * (width + 4)
            )
        )
    print(f"\nTrain another with `gea expert train ENV_ID`; it is saved under {experts_dir()} ($GEA_EXPERTS_DIR).")
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
