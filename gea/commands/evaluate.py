"""``gea eval [overrides]``: evaluate agents on a suite, print the tables and write the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gea.config import load_job_config, save_config
from gea.rollouts.evaluate import EvalConfig, evaluate_with_progress, plan_runs
from gea.rollouts.report import text_report, write_report

HELP = """usage: gea eval [key=value ...]

Evaluate agents on a suite of tasks with the same seeds for every agent, then write
results.json, results.csv, report.md, plots/<domain>.png, videos/ and tensorboard/ into out_dir.
A rerun with the same settings reuses finished tasks (resume=false to start over).

Overrides (Hydra syntax), e.g.:
  suite=quick                 a suite from gea/configs/suite/ (quick, metaworld, babyai, procgen, ...)
  agents=[random,expert]      agents to compare side by side: random, expert, sb3:ZIP, gea:DIR (acts as the
                              policy records: sampled unless trained with policy.decoding=greedy),
                              gea-sample:DIR, gea-greedy:DIR (force sampled / argmax actions)
  episodes=10 max_steps=100   episodes per task and a cap on every task's step limit (default: the suite's)
  seed=0 image_size=64        seeds and image size (default: what each GEA policy was trained with, else 64;
                              a GEA policy's other observation options, e.g. BabyAI view=agent, apply too
                              unless a suite task sets them, and a different choice is warned about)
  num_workers=2               evaluate tasks in parallel processes
  videos_per_task=1           mp4 videos of the first episodes of each task
  out_dir=outputs/eval        where everything is written
  trust_remote_code=false     run model code shipped inside a gea:<dir> checkpoint (only if you trust it)
"""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea eval``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(HELP)
        return 0
    config = load_job_config("eval", EvalConfig, argv)
    out_dir = Path(config.out_dir)
    save_config(config, out_dir / "config.yaml")
    results = evaluate_with_progress(config)
    _, skipped = plan_runs(config)
    payload = write_report(config, results, [task.env for task in skipped], out_dir)
    print()
    print(text_report(payload))
    print(f"\nreport: {out_dir / 'report.md'}")
    return 0
