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
  agents=[random,expert]      agents to compare side by side
  seed=0 image_size=64        seeds and image size
  num_workers=2               evaluate tasks in parallel processes
  videos_per_task=1           mp4 videos of the first episodes of each task
  out_dir=outputs/eval        where everything is written
  trust_remote_code=false     run model code shipped inside a gea:<dir> checkpoint (only if you trust it)
  imports=[my_envs]           your modules that register envs/experts (also imported by every worker)
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
