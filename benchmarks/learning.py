"""How much the quickstart's policy learned: random vs expert vs SFT (vs SFT+PPO) per quick-suite domain.

Evaluates a finished ``gea quickstart`` run's policies again with many more episodes per task than the quickstart's
own table (the same tasks, seeds, step caps, image size and decoding), so the budget is exactly the quickstart's.
Per task and per domain: success of random, expert and SFT with 95% Wilson intervals, the expert-normalized score
``(sft - random) / (expert - random)`` (domain: of the domain's mean success rates, with a bootstrap interval), and
SFT+PPO vs SFT on the quickstart's PPO task(s).

    python benchmarks/learning.py --quickstart outputs/quickstart            # reuse a finished run
    python benchmarks/learning.py --quickstart /tmp/qs --run [override ...]  # run `gea quickstart` first (timed)

Writes ``benchmarks/results/learning.json`` and ``learning.md`` (``--results`` to change). A quickstart run with
``eval.episodes`` >= ``--episodes`` is scored from its own evaluation; otherwise the evaluation's files (report,
per-task results, resumable) go to ``<quickstart>/learning_eval``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

import gea.quickstart as quickstart_module
from gea.cli import main as gea_main
from gea.files import atomic_write_json, atomic_write_text
from gea.quickstart import MARKER, QuickstartConfig, agent_names, eval_config, eval_parts, stage_dir
from gea.rollouts.evaluate import evaluate_with_progress
from gea.rollouts.metrics import wilson_interval
from gea.rollouts.report import write_report
from gea.table import format_table

AGENTS = ("random", "expert", "sft")  # the labels the scores need
GOAL = 0.5  # expert-normalized score the quickstart should reach on every domain
BOOTSTRAP = 2000
RESULTS = Path(__file__).parent / "results"


def load_quickstart(out_dir: Path) -> QuickstartConfig:
    """The settings a finished quickstart run wrote to ``<out_dir>/quickstart.yaml``."""
    saved = out_dir / "quickstart.yaml"
    if not saved.is_file():
        sys.exit(f"{saved} not found: give the out_dir of a finished `gea quickstart` run, or pass --run")
    merged = OmegaConf.merge(OmegaConf.structured(QuickstartConfig), OmegaConf.load(saved))
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def stage_seconds(config: QuickstartConfig) -> dict[str, float]:
    """Seconds each finished stage took when it ran (from its marker)."""
    seconds = {}
    for stage in ("collect", "tokenizer", "sft", "ppo", "eval"):
        marker = stage_dir(config, stage) / MARKER
        if marker.is_file():
            seconds[stage] = round(float(json.loads(marker.read_text())["seconds"]), 1)
    return seconds


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_quickstart_measured(out_dir: Path, overrides: list[str]) -> tuple[float, dict[str, float]]:
    """Run ``gea quickstart`` (wall seconds) recording each stage's CPU seconds: on a shared machine wall time
    inflates with the other jobs, while a single-threaded stage's CPU time is close to its wall time when idle."""
    cpu: dict[str, float] = {}

    def measured(stage: str, runner: Any) -> Any:
        def run(config: QuickstartConfig) -> dict[str, Any]:
            start = cpu_seconds()
            try:
                return runner(config)
            finally:
                cpu[stage] = round(cpu_seconds() - start, 1)

        return run

    original = dict(quickstart_module.RUNNERS)
    quickstart_module.RUNNERS.update({stage: measured(stage, runner) for stage, runner in original.items()})
    started = time.perf_counter()
    try:
        if gea_main(["quickstart", f"out_dir={out_dir}", *overrides]) != 0:
            sys.exit("gea quickstart failed")
    finally:
        quickstart_module.RUNNERS.update(original)
    return time.perf_counter() - started, cpu


def rate(outcomes: list[bool]) -> dict[str, Any]:
    """Successes, episodes, rate and 95% Wilson interval of a list of episode outcomes."""
    low, high = wilson_interval(sum(outcomes), len(outcomes))
    return {
        "successes": sum(outcomes),
        "episodes": len(outcomes),
        "rate": sum(outcomes) / max(1, len(outcomes)),
        "interval": [low, high],
    }


def normalized(sft: float, random: float, expert: float) -> float | None:
    """``(sft - random) / (expert - random)``; None where the expert is no better than random."""
    return (sft - random) / (expert - random) if expert > random else None


def bootstrap_normalized(outcomes: dict[str, list[list[bool]]], seed: int = 0) -> list[float] | None:
    """95% percentile interval of a domain's normalized score, resampling each task's episodes per agent.

    ``outcomes[label]`` holds one list of episode outcomes per task of the domain (same task order for every label).
    """
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        means = {}
        for label, per_task in outcomes.items():
            rates = [rng.choice(np.asarray(task, float), size=len(task)).mean() for task in per_task]
            means[label] = float(np.mean(rates))
        score = normalized(means["sft"], means["random"], means["expert"])
        if score is not None:
            draws.append(score)
    if len(draws) < BOOTSTRAP // 2:
        return None
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))]


def percent(cell: dict[str, Any] | None) -> str:
    """``53% [40-66]``."""
    if cell is None:
        return "-"
    low, high = cell["interval"]
    return f"{100 * cell['rate']:.0f}% [{100 * low:.0f}-{100 * high:.0f}]"


def score(value: float | None, interval: list[float] | None = None) -> str:
    """``0.62 [0.41, 0.80]``."""
    if value is None:
        return "n/a (expert not above random)"
    return f"{value:.2f}" + (f" [{interval[0]:.2f}, {interval[1]:.2f}]" if interval else "")


def evaluate(config: QuickstartConfig, episodes: int) -> dict[str, Any]:
    """The quickstart's own evaluation (results.json) when it played at least ``episodes`` per task with every agent;
    else its agents evaluated again with ``episodes`` per task into ``<out_dir>/learning_eval``."""
    own = stage_dir(config, "eval") / "results.json"
    if own.is_file() and config.eval.episodes >= episodes and set(AGENTS) <= set(config.eval.agents):
        return json.loads(own.read_text())
    evaluation = eval_config(config)
    evaluation.out_dir = str(Path(config.out_dir) / "learning_eval")
    evaluation.videos_per_task = 0
    evaluation.suite = dataclasses.replace(
        evaluation.suite, tasks=[dataclasses.replace(task, episodes=episodes) for task in evaluation.suite.tasks]
    )
    results = [result for part in eval_parts(config, evaluation) for result in evaluate_with_progress(part)]
    return write_report(evaluation, results, [], Path(evaluation.out_dir))


def summarize(config: QuickstartConfig, payload: dict[str, Any]) -> dict[str, Any]:
    """Per task, per domain and PPO rows of the learning results."""
    labels = {name: label for label, name in agent_names(config).items()}
    outcomes: dict[str, dict[str, list[bool]]] = {}
    domains: dict[str, str] = {}
    for episode in payload["episodes"]:
        label = labels.get(episode["agent"], episode["agent"])
        outcomes.setdefault(episode["env_id"], {}).setdefault(label, []).append(bool(episode["success"]))
    for row in payload["tasks"]:
        domains[row["env_id"]] = row["domain"]
    tasks = []
    for env_id, per_agent in outcomes.items():
        cells = {label: rate(values) for label, values in per_agent.items()}
        value = None
        if all(label in cells for label in ("random", "expert", "sft")):
            value = normalized(cells["sft"]["rate"], cells["random"]["rate"], cells["expert"]["rate"])
        tasks.append({"env_id": env_id, "domain": domains[env_id], "normalized": value, **cells})
    domain_rows = []
    for domain in dict.fromkeys(domains.values()):
        members = [env_id for env_id in outcomes if domains[env_id] == domain]
        per_label = {
            label: [outcomes[env_id][label] for env_id in members]
            for label in ("random", "expert", "sft")
            if all(label in outcomes[env_id] for env_id in members)
        }
        means = {label: float(np.mean([np.mean(task) for task in values])) for label, values in per_label.items()}
        value = normalized(means["sft"], means["random"], means["expert"]) if len(means) == 3 else None
        domain_rows.append(
            {
                "domain": domain,
                "tasks": members,
                **means,
                "normalized": value,
                "normalized_interval": bootstrap_normalized(per_label) if len(per_label) == 3 else None,
                "goal_met": value is not None and value >= GOAL,
            }
        )
    ppo_rows = []
    for env_id in config.ppo.envs:
        per_agent = outcomes.get(env_id, {})
        if "sft" in per_agent and "sft+ppo" in per_agent:
            sft, tuned = rate(per_agent["sft"]), rate(per_agent["sft+ppo"])
            ppo_rows.append({"env_id": env_id, "sft": sft, "sft+ppo": tuned, "not_below": tuned["rate"] >= sft["rate"]})
    return {
        "tasks": tasks,
        "domains": domain_rows,
        "ppo": ppo_rows,
        "goal": {
            "normalized_at_least": GOAL,
            "met_on_every_domain": all(row["goal_met"] for row in domain_rows),
            "ppo_not_below_sft": all(row["not_below"] for row in ppo_rows) if ppo_rows else None,
        },
    }


def markdown(document: dict[str, Any]) -> str:
    """The recorded results as a Markdown page."""
    quickstart = document["quickstart"]
    task_rows = [
        [
            row["env_id"],
            row["domain"],
            percent(row.get("random")),
            percent(row.get("expert")),
            percent(row.get("sft")),
            percent(row.get("sft+ppo")),
            score(row["normalized"]),
        ]
        for row in document["tasks"]
    ]
    domain_rows = [
        [
            row["domain"],
            f"{100 * row.get('random', 0):.0f}%",
            f"{100 * row.get('expert', 0):.0f}%",
            f"{100 * row.get('sft', 0):.0f}%",
            score(row["normalized"], row["normalized_interval"]),
            "yes" if row["goal_met"] else "**no**",
        ]
        for row in document["domains"]
    ]
    ppo_rows = [
        [row["env_id"], percent(row["sft"]), percent(row["sft+ppo"]), "yes" if row["not_below"] else "**no**"]
        for row in document["ppo"]
    ]
    seconds = quickstart["stage_seconds"]
    stages = ", ".join(f"{stage} {value:.0f} s" for stage, value in seconds.items())
    wall = quickstart.get("wall_seconds")
    cpu = ", ".join(f"{stage} {value:.0f} s" for stage, value in quickstart.get("stage_cpu_seconds", {}).items())
    verdict = "met" if document["goal"]["met_on_every_domain"] else "not met"
    machine = document["machine"]
    lines = [
        "# Learning: random vs expert vs the quickstart's SFT policy, per quick-suite domain",
        "",
        f"Command: `{document['command']}`",
        "",
        f"Date: {document['date']}. Machine: {machine['cpus']} CPU cores, {machine['platform']}; load average "
        f"{machine['load_average_start']} at the start, {machine['load_average_end']} at the end (1, 5, 15 min; "
        "above ~0.5, other jobs shared the machine).",
        "",
        f"Quickstart run: `{quickstart['out_dir']}` (settings in its `quickstart.yaml`); stage times when it ran: "
        f"{stages}"
        + (f"; wall time of `gea quickstart` in this run: {wall:.0f} s" if wall else "")
        + "."
        + (
            f" CPU time per stage (this process and its workers; about the idle wall time of a one-thread stage, "
            f"twice that of a two-worker one): {cpu}."
            if cpu
            else ""
        ),
        "",
        f"Evaluation: {document['episodes_per_task']} episodes per task (the quickstart's seeds, step caps, image size "
        f"and {'sampled' if quickstart['sampled'] else 'argmax'} actions), 95% Wilson intervals; the domain's "
        "expert-normalized score `(sft - random) / (expert - random)` is of the domain's mean success rates, with a "
        f"95% bootstrap interval ({BOOTSTRAP} resamples of each task's episodes).",
        "",
        "## Per domain",
        "",
        format_table(["domain", "random", "expert", "SFT", "expert-normalized SFT", f">= {GOAL}?"], domain_rows, True),
        "",
        f"Goal (expert-normalized >= {GOAL} on every domain): **{verdict}**.",
        "",
        "## Per task",
        "",
        format_table(["task", "domain", "random", "expert", "SFT", "SFT+PPO", "normalized"], task_rows, markdown=True),
        "",
        "## PPO from SFT vs SFT",
        "",
        format_table(["task", "SFT", "SFT+PPO", "not below SFT?"], ppo_rows, markdown=True) if ppo_rows else "none",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Optionally run the quickstart, evaluate its policies with many episodes, write learning.json and .md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", type=Path, default=Path("outputs/quickstart"), help="its out_dir")
    parser.add_argument("--run", action="store_true", help="run `gea quickstart` into --quickstart first (timed)")
    parser.add_argument("--episodes", type=int, default=30, help="evaluation episodes per task")
    parser.add_argument("--results", type=Path, default=RESULTS / "learning.json")
    parser.add_argument("overrides", nargs="*", help="`gea quickstart` overrides (with --run)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    wall, cpu = None, {}
    if args.run:
        wall, cpu = run_quickstart_measured(args.quickstart, args.overrides)
    config = load_quickstart(args.quickstart)
    payload = evaluate(config, args.episodes)
    summary = summarize(config, payload)
    document = {
        "command": "python " + " ".join(shlex.quote(arg) for arg in sys.argv),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_start": [round(value, 2) for value in load_start],
            "load_average_end": [round(value, 2) for value in os.getloadavg()],
        },
        "quickstart": {
            "out_dir": str(args.quickstart),
            "stage_seconds": stage_seconds(config),
            "wall_seconds": wall,
            "stage_cpu_seconds": cpu,
            "sampled": config.eval.sample,
            "settings": OmegaConf.to_container(OmegaConf.structured(config)),
        },
        **summary,
        "episodes_per_task": min(row[name]["episodes"] for row in summary["tasks"] for name in AGENTS if name in row),
    }
    atomic_write_json(args.results, document, indent=1)
    atomic_write_text(args.results.with_suffix(".md"), markdown(document))
    print(markdown(document))


if __name__ == "__main__":
    main()
