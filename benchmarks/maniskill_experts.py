"""ManiSkill motion-planner experts: success per task against a uniformly random policy, on the same seeds.

Run: .venv/bin/python benchmarks/maniskill_experts.py [--episodes 100] [--image-episodes 10] [--tasks PushCube ...]
     [--out benchmarks/results/maniskill_experts.md] [--experts-file benchmarks/results/experts.md]

For each task the registered expert (ManiSkill's motion-planning solution, driven through the joint-velocity
controller by ``gea.agents.experts.maniskill_planner``) and a random policy play the same seeds 0..N-1 through the
platform's episode loop (``gea.envs.make`` + ``run_episode``, ending at the first success or the task's time limit).
The main runs are state-only (``render_mode=None``): the expert reads privileged state, so images cannot change what
it does. A cross-check replays the first ``--image-episodes`` seeds with 64 px images, as ``gea collect`` does, and
reports whether every episode ends the same way. Writes the Markdown table (and a JSON record) to ``--out`` and the
same table into ``--experts-file`` (``benchmarks/results/experts.md``) between its ManiSkill markers.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _bench import load_average, write_results
from tqdm import tqdm

import gea.envs
from gea.agents.experts import make_expert
from gea.envs.adapters.maniskill_tasks import TASKS, env_id
from gea.rollouts.episodes import EpisodeResult, run_episode
from gea.rollouts.metrics import wilson_interval

EXPERTS_FILE = Path(__file__).parent / "results" / "experts.md"
BEGIN, END = "<!-- maniskill-experts: begin -->", "<!-- maniskill-experts: end -->"


class RandomAgent:
    """Uniform random actions from the env's action space, seeded once."""

    def __init__(self, env: Any, seed: int = 0) -> None:
        env.action_space.seed(seed)
        self.space = env.action_space

    def reset(self, env: Any) -> None:
        """Nothing to prepare."""

    def act(self, env: Any, observation: dict[str, Any]) -> np.ndarray:
        """A uniform random action."""
        return self.space.sample()


@dataclass
class TaskRecord:
    """One task's episodes: successes and lengths per agent, seconds per expert episode, the image cross-check."""

    task: str
    expert: list[bool]
    expert_lengths: list[int]
    random: list[bool]
    expert_seconds: float
    image_expert: list[bool]
    image_seconds: float


def play(task: str, agent_name: str, seeds: range, **env_kwargs: Any) -> tuple[list[EpisodeResult], float]:
    """Episodes of ``agent_name`` (expert or random) on ``seeds``, and the seconds they took."""
    env = gea.envs.make(env_id(task), **env_kwargs)
    agent = make_expert(env_id(task)) if agent_name == "expert" else RandomAgent(env)
    start = time.perf_counter()
    try:
        results = [
            run_episode(env, agent, seed, env_id(task))
            for seed in tqdm(seeds, desc=f"{task} {agent_name}", leave=False)
        ]
    finally:
        env.close()
    return results, time.perf_counter() - start


def measure(task: str, episodes: int, image_episodes: int) -> TaskRecord:
    """Expert and random state-only on ``episodes`` seeds, the expert again with images on the first few."""
    expert, expert_time = play(task, "expert", range(episodes), render_mode=None)
    random, _ = play(task, "random", range(episodes), render_mode=None)
    with_images, image_time = play(task, "expert", range(image_episodes), image_size=64)
    return TaskRecord(
        task,
        [r.success for r in expert],
        [r.length for r in expert],
        [r.success for r in random],
        expert_time / max(episodes, 1),
        [r.success for r in with_images],
        image_time / max(image_episodes, 1),
    )


def table(records: list[TaskRecord]) -> str:
    """The Markdown table: success with 95% Wilson intervals, lengths, time, the image cross-check."""
    lines = [
        "| task | GEA task | episodes | expert success [95% CI] | random success | expert steps (successes) "
        "| s / expert episode | with 64 px images: expert success (same outcome on every seed) |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for record in records:
        n, wins = len(record.expert), sum(record.expert)
        low, high = wilson_interval(wins, n)
        lengths = [length for length, ok in zip(record.expert_lengths, record.expert) if ok]
        steps = f"{np.mean(lengths):.0f}" if lengths else "-"
        k = len(record.image_expert)
        same = record.image_expert == record.expert[:k]
        lines.append(
            f"| maniskill:{record.task} | {'yes' if 'gea5' in TASKS[record.task].tags else 'no'} | {n} "
            f"| {wins / n:.0%} [{low:.0%}-{high:.0%}] | {sum(record.random) / n:.0%} | {steps} "
            f"| {record.expert_seconds:.1f} | {sum(record.image_expert)}/{k} ({'yes' if same else 'no'}, "
            f"{record.image_seconds:.0f} s/episode) |"
        )
    return "\n".join(lines)


def update_experts_file(path: Path, section: str) -> None:
    """Put ``section`` between the ManiSkill markers of ``path`` (appended the first time)."""
    text = path.read_text() if path.exists() else ""
    block = f"{BEGIN}\n{section}\n{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    """Measure every chosen task, then write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--image-episodes", type=int, default=10)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "maniskill_experts.md")
    parser.add_argument("--experts-file", type=Path, default=EXPERTS_FILE, help="the file to put the table into")
    args = parser.parse_args()
    started, load_before = time.strftime("%Y-%m-%d %H:%M"), load_average()
    records = [measure(task, args.episodes, args.image_episodes) for task in args.tasks]
    command = " ".join(shlex.quote(part) for part in [".venv/bin/python", *sys.argv])
    summary = table(records)
    text = f"""# ManiSkill motion-planner experts vs random play

Produced by `{command}` on {started} ({platform.machine()}, Python {platform.python_version()}, 2 shared CPU cores;
load average {load_before} before, {load_average()} after).

Expert: ManiSkill {_version("mani_skill")}'s motion-planning solutions (mplib {_version("mplib")}) driven through
the joint-velocity controller (`pd_joint_vel`) by `gea.agents.experts.maniskill_planner`; random: uniform actions.
Both play seeds 0..{args.episodes - 1} through `gea.envs.make` + the platform's episode loop, ending at the first
success or the task's time limit; state-only (`render_mode=None`), since the expert reads privileged state. The last
column replays the first {args.image_episodes} seeds with 64 px images (as `gea collect` does).

{summary}
"""
    write_results(args.out, text, {"command": command, "started": started, "tasks": [asdict(r) for r in records]})
    update_experts_file(
        args.experts_file,
        "## ManiSkill motion-planner experts\n\n"
        f"From `{_relative(args.out)}` (`{command}`, {started}); success over the same seeds as a "
        "random policy, state-only, with a cross-check on 64 px images.\n\n" + summary,
    )
    print(text)


def _relative(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it."""
    root = Path(__file__).resolve().parents[1]
    resolved = path.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
