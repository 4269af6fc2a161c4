"""``gea expert train|list|convert``: RL experts for Procgen, Atari and other discrete-action image envs."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from gea.agents.experts.net_expert import available_experts, experts_dir
from gea.errors import ConfigError, MissingDependencyError
from gea.table import format_table

USAGE = """usage: gea expert train ENV_ID [key=value ...]
       gea expert list
       gea expert convert ENV_ID SB3_ZIP [act=greedy|sample]"""
ABOUT = """train    Train an expert for ENV_ID with the game's recipe (gea/configs/expert_recipes.yaml), score it and a
         random policy on held-out seeds, and save <out_dir>/<env-slug>/{model.safetensors, expert.json} beside run/
         (config, TensorBoard, checkpoints). `gea collect` and `gea eval agents=[expert]` then use it for ENV_ID.
         A rerun resumes the run it finds there (resume=false starts over); raise total_steps to train on.
list     Show the shipped experts and those in the experts folder, with their recorded returns.
convert  Turn a Stable-Baselines3 CnnPolicy zip into an expert of ENV_ID in the experts folder (no pickle is loaded).

The experts folder is $GEA_EXPERTS_DIR, else ~/.cache/gea/experts; its experts win over the shipped ones. The
defaults below are the schema's; a game's recipe changes some of them (e.g. procgen: gamma, env_kwargs)."""


def full_help() -> str:
    """``gea expert --help``: usage and every option of ``gea expert train``."""
    from gea.config_help import help_text
    from gea.train.experts.config import ExpertTrainConfig

    return help_text("expert_train", ExpertTrainConfig, USAGE, ABOUT)


def _train(env_id: str, overrides: Sequence[str]) -> int:
    from gea.train.experts import expert_output, load_expert_config, train_expert

    config = load_expert_config(env_id, overrides)
    if config.backend == "sb3":
        try:
            import stable_baselines3  # noqa: F401
        except ModuleNotFoundError as error:
            raise MissingDependencyError("backend=sb3 needs stable-baselines3: pip install 'gea[rl]'") from error
    print(f"training the expert of {env_id} in {expert_output(config)} ({config.backend}, {config.total_steps} steps)")
    record = train_expert(config)
    evaluation = record["evaluation"]
    expert, random, difference = evaluation["expert"], evaluation["random"], evaluation["difference"]
    low, high = difference["ci95"]
    print(
        f"{env_id}: {record['training']['steps']} steps in {record['training']['train_wall_seconds']:.0f} s; "
        f"return over {len(expert['returns'])} held-out episodes ({evaluation['act']} actions): "
        f"expert {expert['mean']:.2f}, random {random['mean']:.2f}, difference {difference['mean']:+.2f} "
        f"[95% CI {low:+.2f}, {high:+.2f}]"
    )
    return 0


def _rl_expert_rows() -> list[list[object]]:
    """One row per RL expert: the shipped ones, then the user's (a trained one replaces a shipped one)."""
    rows: list[list[object]] = []
    shipped: dict[object, list[object]] = {}
    for source, folder, record in available_experts():
        evaluation = record.get("evaluation", {})
        expert, random = evaluation.get("expert", {}), evaluation.get("random", {})
        row: list[object] = [
            record.get("env_id", "?"),
            source,
            record.get("training", {}).get("steps", "?"),
            f"{expert.get('mean', float('nan')):.2f}",
            f"{random.get('mean', float('nan')):.2f}",
            folder,
        ]
        if source == "shipped":
            shipped[row[0]] = row
        elif row[0] in shipped:
            shipped[row[0]][1] = "shipped, replaced by the trained one"
        rows.append(row)
    return rows


def _served(patterns: list[str]) -> str:
    """``babyai:*; miniworld: Hallway, Maze`` (ids of one family share their prefix)."""
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
    print("RL experts (small actor-critics on the image), used by `gea collect` and `gea eval agents=[expert]`:")
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


def _convert(env_id: str, zip_path: str, options: Sequence[str]) -> int:
    from gea.agents.experts.net_expert import expert_folder
    from gea.agents.experts.sb3_expert import convert_sb3_zip

    act = "greedy"
    for option in options:
        key, _, value = option.partition("=")
        if key != "act" or value not in ("greedy", "sample"):
            raise ConfigError(f"gea expert convert takes only act=greedy or act=sample, not {option!r}")
        act = value
    folder = convert_sb3_zip(Path(zip_path), env_id, expert_folder(env_id), act=act)
    print(f"{zip_path} -> {folder} (the expert of {env_id})")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea expert``."""
    if not argv or any(arg in ("-h", "--help") for arg in argv):
        print(full_help())
        return 0
    if argv[0] == "train" and len(argv) >= 2 and "=" not in argv[1]:
        return _train(argv[1], argv[2:])
    if argv[0] == "list" and all(arg.startswith("imports=") for arg in argv[1:]):
        return _list()
    if argv[0] == "convert" and len(argv) >= 3:
        return _convert(argv[1], argv[2], argv[3:])
    print(USAGE, file=sys.stderr)
    return 2
