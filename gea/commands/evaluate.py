"""``gea eval [overrides]``: evaluate agents on a suite and print the success table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gea.config import load_job_config, save_config
from gea.rollouts.evaluate import EvalConfig, TaskScore, evaluate, write_results
from gea.table import format_table

HELP = """usage: gea eval [key=value ...]

Evaluate agents on a suite of tasks with the same seeds for every agent.
Overrides (Hydra syntax), e.g.:
  suite=quick                 suite file from gea/configs/suite/
  agents=[random,expert]      agents to compare
  seed=0 image_size=64        seeds and image size
  out_dir=outputs/eval        where results.json and config.yaml go
"""


def success_table(scores: list[TaskScore], agents: Sequence[str]) -> str:
    """One row per task, one success-rate column per agent (``-`` where the agent does not apply)."""
    by_task: dict[str, dict[str, TaskScore]] = {}
    for score in scores:
        by_task.setdefault(score.env_id, {})[score.agent] = score
    rows = []
    for env_id, per_agent in by_task.items():
        domain = next(iter(per_agent.values())).domain
        cells = [f"{100 * per_agent[a].success_rate:.0f}%" if a in per_agent else "-" for a in agents]
        rows.append([env_id, domain, *cells])
    return format_table(["task", "domain", *[f"{a} success" for a in agents]], rows)


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea eval``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
        return 0
    config = load_job_config("eval", EvalConfig, argv)
    out_dir = Path(config.out_dir)
    save_config(config, out_dir / "config.yaml")
    scores = evaluate(config)
    path = write_results(scores, config, out_dir)
    print()
    print(success_table(scores, config.agents))
    print(f"\nresults: {path}")
    return 0
