"""RL experts for every Procgen game and fourteen Atari-57 games: train, check float16, ship and report them.

Run from the repository root (each step reads what the previous one wrote):

    .venv/bin/python benchmarks/experts.py train [--games ID ...]   # `gea expert train ID` per game, one at a time
    .venv/bin/python benchmarks/experts.py score --root DIR [--games ID ...]  # score experts made elsewhere
    .venv/bin/python benchmarks/experts.py fp16 [--games ID ...]    # float16 vs float32 weights on the same seeds
    .venv/bin/python benchmarks/experts.py ship [--games ID ...]    # copy the experts into gea/data/experts
    .venv/bin/python benchmarks/experts.py attempt [--games ID ...] # record runs that do not ship (their scores)
    .venv/bin/python benchmarks/experts.py report                   # write benchmarks/results/experts.md

Games are the entries of the recipe table (``gea/configs/expert_recipes.yaml``); each run uses that game's recipe.
Trained experts live in the experts folder (``$GEA_EXPERTS_DIR``, else ``~/.cache/gea/experts``); ``train`` resumes
runs found there. The report reads the shipped experts' ``expert.json`` records: held-out returns of the expert and
of uniformly random play on the same seeds with 95% bootstrap intervals, normalized scores, steps, wall and CPU
time, and the load average when training ended. Games whose run does not ship (not above random) keep that run's
record in ``benchmarks/results/experts_attempts.json`` (``attempt``), so the report has a row for every game.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from maniskill_experts import BEGIN as MANISKILL_BEGIN
from maniskill_experts import END as MANISKILL_END
from safetensors.torch import load_file

from gea.agents.experts.net_expert import (
    PACKAGED_EXPERTS_DIR,
    RECORD_FILE,
    WEIGHTS_FILE,
    NetExpert,
    expert_folder,
    expert_records,
    load_net,
)
from gea.agents.experts.procgen_search import SEARCH_GAMES
from gea.files import atomic_write_json
from gea.train.checkpoint import latest_checkpoint
from gea.train.experts import load_expert_config
from gea.train.experts.config import recipe_table
from gea.train.experts.record import evaluate_expert, play

FP16_EPISODES = 10
RESULTS = Path("benchmarks/results/experts.md")
ATTEMPTS = Path("benchmarks/results/experts_attempts.json")
SEARCH = Path("benchmarks/results/search_experts.json")  # benchmarks/search_experts.py


def games(selected: list[str] | None) -> list[str]:
    """The env ids to work on: ``selected``, else every game of the recipe table."""
    table = list(recipe_table()["games"])
    unknown = sorted(set(selected or []) - set(table))
    if unknown:
        raise SystemExit(f"not in gea/configs/expert_recipes.yaml: {unknown}")
    return selected or table


def train(env_ids: list[str], extra: list[str]) -> None:
    """`gea expert train` for each game, serially (a failed game is reported and the next one starts)."""
    gea = str(Path(sys.executable).with_name("gea"))
    for env_id in env_ids:
        command = [gea, "expert", "train", env_id, *extra]
        print("$", " ".join(command), flush=True)
        if subprocess.run(command, check=False).returncode:
            print(f"training {env_id} failed; continuing with the next game", file=sys.stderr)


def score(env_ids: list[str], root: Path) -> None:
    """Score the experts under ``root`` (e.g. converted SB3 zips) as ``gea expert train`` scores its own."""
    for env_id in env_ids:
        folder = expert_folder(env_id, root)
        if not (folder / RECORD_FILE).is_file():
            continue
        net, record = load_net(folder)
        config = load_expert_config(env_id, [f"frame_stack={record['frame_stack']}", "progress=false"])
        record["evaluation"] = evaluate_expert(config, net)
        record["act"] = record["evaluation"]["act"]
        atomic_write_json(folder / RECORD_FILE, record, sort_keys=False)
        expert, random = record["evaluation"]["expert"], record["evaluation"]["random"]
        print(f"{env_id} ({folder}): expert {expert['mean']:.2f} {expert['ci95']}, random {random['mean']:.2f}")


def fp16_check(env_id: str) -> dict[str, Any]:
    """Returns of the saved float16 expert and of its float32 weights (the run's last checkpoint), same seeds."""
    folder = expert_folder(env_id)
    half, record = load_net(folder)
    checkpoint = latest_checkpoint(folder / "run" / "checkpoints")
    if checkpoint is None:
        raise SystemExit(f"{folder} has no run/checkpoints with float32 weights (converted or copied expert?)")
    full, _ = load_net(folder)
    full.load_state_dict(load_file(str(checkpoint.path / "model.safetensors")))
    config = load_expert_config(env_id, [f"eval_episodes={FP16_EPISODES}", "progress=false"])
    scores = {}
    for label, net in (("float32", full), ("float16", half)):
        expert = NetExpert(env_id, net, record["frame_stack"], record["act"])
        scores[label] = play(config, expert, config.eval_seed, FP16_EPISODES, label)["returns"]
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (256, *half.config.input_shape), dtype=torch.uint8, generator=generator)
    with torch.no_grad():
        agree = float((full(images)[0].argmax(-1) == half(images)[0].argmax(-1)).float().mean())
    return {
        "episodes": FP16_EPISODES,
        "float32_returns": scores["float32"],
        "float16_returns": scores["float16"],
        "identical_returns": scores["float32"] == scores["float16"],
        "argmax_agreement_on_random_images": round(agree, 4),
    }


def trained(env_ids: list[str]) -> Iterator[tuple[str, Path]]:
    """Each env id with its trained expert's folder in the experts folder; a game without one is reported."""
    for env_id in env_ids:
        folder = expert_folder(env_id)
        if (folder / RECORD_FILE).is_file():
            yield env_id, folder
        else:
            print(f"no expert for {env_id} in {folder}", file=sys.stderr)


def add_fp16_checks(env_ids: list[str]) -> None:
    """Store ``fp16_check`` in each expert's record."""
    for env_id, folder in trained(env_ids):
        record = json.loads((folder / RECORD_FILE).read_text())
        record["float16_check"] = fp16_check(env_id)
        atomic_write_json(folder / RECORD_FILE, record, sort_keys=False)
        print(env_id, record["float16_check"], flush=True)


def ship(env_ids: list[str]) -> None:
    """Copy each trained expert's two files into the package (``gea/data/experts/<slug>``), without local paths,
    and drop the game's record of an earlier run that did not ship."""
    attempts = json.loads(ATTEMPTS.read_text()) if ATTEMPTS.is_file() else {}
    for env_id, source in trained(env_ids):
        attempts.pop(env_id, None)
        target = expert_folder(env_id, PACKAGED_EXPERTS_DIR)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copyfile(source / WEIGHTS_FILE, target / WEIGHTS_FILE)
        record = json.loads((source / RECORD_FILE).read_text())
        record.get("config", {})["out_dir"] = ""  # where it was trained means nothing on another machine
        atomic_write_json(target / RECORD_FILE, record, sort_keys=False)
        print(f"{env_id}: {source} -> {target}")
    atomic_write_json(ATTEMPTS, attempts, sort_keys=False)


def attempt(env_ids: list[str]) -> None:
    """Keep the records (without weights) of trained experts that do not ship, for the report's per-game table."""
    attempts = json.loads(ATTEMPTS.read_text()) if ATTEMPTS.is_file() else {}
    for env_id, source in trained(env_ids):
        record = json.loads((source / RECORD_FILE).read_text())
        record.pop("net", None)
        attempts[env_id] = record
        print(f"{env_id}: recorded the run in {source} as not shipped")
    atomic_write_json(ATTEMPTS, dict(sorted(attempts.items())), sort_keys=False)


def _interval(summary: dict[str, Any]) -> str:
    low, high = summary["ci95"]
    return f"{summary['mean']:.2f} [{low:.2f}, {high:.2f}]"


def _normalized(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def row(record: dict[str, Any], shipped: bool) -> str:
    """One game's Markdown table row: its run, its held-out scores and whether it ships."""
    training, evaluation = record["training"], record["evaluation"]
    expert, random, difference = evaluation["expert"], evaluation["random"], evaluation["difference"]
    low, high = difference["ci95"]
    wall = training.get("train_wall_seconds", 0) / 60
    cpu = training.get("train_cpu_seconds")
    load = training.get("machine", {}).get("load_average", [None] * 3)[2]
    config = record.get("config", {})
    recipe = f"{record['backend']} {config.get('encoder', 'cnn')} x{record['frame_stack']}"
    if "converted_from" in record:
        recipe += " (converted SB3 zip)"
    return (
        f"| {record['env_id']} | {recipe} | {training['steps']:,} | {wall:.0f} | "
        f"{'-' if cpu is None else f'{cpu / 60:.0f}'} | {'-' if load is None else f'{load:.1f}'} | "
        f"{evaluation['act']} | {len(expert['returns'])} | {_interval(expert)} | {_interval(random)} | "
        f"{difference['mean']:+.2f} [{low:+.2f}, {high:+.2f}] | {'yes' if low > 0 else '**no**'} | "
        f"{_normalized(expert['normalized'])} | {_normalized(random['normalized'])} | "
        f"{expert['success_rate']:.0%} | {random['success_rate']:.0%} | {'yes' if shipped else '**no**'} |"
    )


def _search_served(env_id: str) -> bool:
    return env_id.removeprefix("procgen:") in SEARCH_GAMES


def search_row(record: dict[str, Any]) -> str:
    """One game's row for its search expert (``gea.agents.experts.procgen_search``): no training, its score."""
    evaluation = record["evaluation"]
    expert, random, difference = evaluation["expert"], evaluation["random"], evaluation["difference"]
    low, high = difference["ci95"]
    load = record["machine"]["load_average"][2]
    settings = record.get("settings") or {}
    if settings.get("rollouts"):
        method = f"search: shooting {settings['rollouts']} x {settings['horizon']} steps, play {settings['commit']}"
    else:
        patience = f", random after {record['patience']} failed" if record.get("patience") else ""
        method = f"search: breadth-first, {record['max_nodes']:,} steps{patience}"
    return (
        f"| {record['env_id']} | {method} | - | "
        f"{record['expert_wall_seconds'] / 60:.1f} (playing) | - | {load:.1f} | search | {len(expert['returns'])} | "
        f"{_interval(expert)} | {_interval(random)} | {difference['mean']:+.2f} [{low:+.2f}, {high:+.2f}] | "
        f"{'yes' if low > 0 else '**no**'} | {_normalized(expert['normalized'])} | "
        f"{_normalized(random['normalized'])} | {expert['success_rate']:.0%} | {random['success_rate']:.0%} | "
        f"{'yes (search)' if _search_served(record['env_id']) else '**no**'} |"
    )


def rows(
    shipped: list[dict[str, Any]],
    attempts: dict[str, dict[str, Any]],
    family: str,
    searched: dict[str, dict[str, Any]] | None = None,
) -> list[str]:
    """Markdown table rows of one game family: every game of the recipe table and every shipped expert; a game
    without a trained expert shows its search expert's row (and the failed training run's row) when it has one."""
    by_game = {record["env_id"]: record for record in shipped if record.get("evaluation") is not None}
    recipe_games = [env_id for env_id in recipe_table()["games"] if env_id.startswith(family + ":")]
    shipped_games = [env_id for env_id in by_game if env_id.startswith(family + ":")]
    searched = searched or {}
    lines = []
    for env_id in sorted(set(recipe_games) | set(shipped_games), key=str.lower):
        if env_id in by_game:
            lines.append(row(by_game[env_id], shipped=True))
            continue
        if env_id in searched:
            lines.append(search_row(searched[env_id]))
        if env_id in attempts:
            lines.append(row(attempts[env_id], shipped=False))
        elif env_id not in searched:
            lines.append(f"| {env_id} | no run recorded |" + " - |" * 14 + " **no** |")
    return lines


HEADER = (
    "| env | recipe | steps | wall min | CPU min | load (15 min) | act | episodes | expert return [95% CI] "
    "| random return [95% CI] | difference [95% CI] | beats random | {norm} expert | {norm} random "
    "| expert success | random success | shipped |\n"
    "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|"
)


def report(out: Path) -> None:
    """Write the results page from the shipped experts' records."""
    shipped = expert_records(PACKAGED_EXPERTS_DIR)
    size = sum(path.stat().st_size for folder, _ in shipped for path in folder.iterdir())
    attempts = json.loads(ATTEMPTS.read_text()) if ATTEMPTS.is_file() else {}
    searched = json.loads(SEARCH.read_text()) if SEARCH.is_file() else {}
    records = [record for _, record in shipped]
    notes = Path("benchmarks/results/experts_notes.md")
    beats = {
        family: [
            evaluation["difference"]["ci95"][0] > 0
            for _, record in shipped
            if record["env_id"].startswith(family + ":") and (evaluation := record.get("evaluation")) is not None
        ]
        for family in ("procgen", "atari")
    }
    procgen_games = [env_id for env_id in recipe_table()["games"] if env_id.startswith("procgen:")]
    trained = {record["env_id"] for record in records}
    by_search = sorted(env_id for env_id in searched if _search_served(env_id) and env_id not in trained)
    lines = [
        "# RL experts for Procgen and Atari games",
        "",
        "Produced by `benchmarks/experts.py` (`train`, `fp16`, `ship`, `attempt`, `report`); every row is one",
        "`gea expert train ENV_ID` run with the game's recipe from `gea/configs/expert_recipes.yaml`, on a 2-core CPU",
        "machine (the early runs under `nice -n 19` next to other jobs, where wall time is far above CPU time).",
        "Evaluation: full episodes on held-out seeds (never a training reset seed), expert and uniformly random",
        "play on the same seeds; 95% percentile-bootstrap intervals of the mean and of the difference. `act`: the",
        "expert's acting mode, picked on separate selection seeds. Procgen: easy mode, full level distribution,",
        "min-max normalized with GEA's easy-mode constants; Atari: human-normalized, sticky actions (0.25).",
        "A game whose run did not beat random keeps its row (`shipped` **no**, the run's record in",
        '`experts_attempts.json`; "no run recorded": none was kept); `gea eval` and `gea collect` say it has no',
        "expert and why.",
        "",
        f"Shipped: {len(shipped)} experts in `gea/data/experts`, {size / 1e6:.1f} MB in all "
        "(float16 safetensors + JSON).",
        f"Beat random (difference interval above 0): Procgen {sum(beats['procgen'])} of {len(beats['procgen'])}, "
        f"Atari {sum(beats['atari'])} of {len(beats['atari'])}. Procgen games with an expert: "
        f"{len(beats['procgen']) + len(by_search)} of {len(procgen_games)} ({len(beats['procgen'])} trained, "
        f"{len(by_search)} by search: {', '.join(by_search) or 'none'}).",
        "",
        "Search experts (`gea.agents.experts.procgen_search`, scored by `benchmarks/search_experts.py`) play the",
        "games where training did not beat random here: breadth-first search over the real game's cloned states",
        "(procgen's `get_state`/`set_state`) to the nearest reward, no training; their rows say `search` and",
        "precede the failed training run's row of the same game.",
        "",
        "## Procgen (easy mode)",
        "",
        HEADER.format(norm="min-max"),
        *rows(records, attempts, "procgen", searched),
        "",
        "## Atari",
        "",
        HEADER.format(norm="human-norm."),
        *rows(records, attempts, "atari"),
        "",
        "## float16 weights",
        "",
        "| env | episodes | float32 returns | float16 returns | identical | argmax agreement (random images) |",
        "|---|---:|---|---|---|---:|",
    ]
    for _, record in sorted(shipped, key=lambda item: item[1]["env_id"].lower()):
        check = record.get("float16_check")
        if check:
            lines.append(
                f"| {record['env_id']} | {check['episodes']} | {np.mean(check['float32_returns']):.2f} | "
                f"{np.mean(check['float16_returns']):.2f} | {'yes' if check['identical_returns'] else 'no'} | "
                f"{check['argmax_agreement_on_random_images']:.1%} |"
            )
    if notes.is_file():
        lines += ["", notes.read_text().rstrip()]
    previous = out.read_text() if out.is_file() else ""
    if MANISKILL_BEGIN in previous and MANISKILL_END in previous:  # benchmarks/maniskill_experts.py's section
        start, end = previous.index(MANISKILL_BEGIN), previous.index(MANISKILL_END) + len(MANISKILL_END)
        lines += ["", previous[start:end]]
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


def main() -> int:
    """Dispatch the step named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("train", "score", "fp16", "ship", "attempt", "report"))
    parser.add_argument("--games", nargs="*", help="env ids (default: every game of the recipe table)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--root", type=Path, help="score: the folder holding the experts to score")
    args, extra = parser.parse_known_args()
    if args.step == "train":
        train(games(args.games), extra)
    elif args.step == "score":
        if args.root is None:
            raise SystemExit("score needs --root DIR (a folder of expert folders)")
        score(games(args.games), args.root)
    elif args.step == "fp16":
        add_fp16_checks(games(args.games))
    elif args.step == "ship":
        ship(games(args.games))
    elif args.step == "attempt":
        attempt(games(args.games))
    else:
        report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
