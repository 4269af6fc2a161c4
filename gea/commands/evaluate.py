"""``gea eval [overrides]``: evaluate agents on a suite, print the tables and write the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gea.config import load_job_config, save_config
from gea.config_help import help_text
from gea.rollouts.evaluate import EvalConfig, evaluate_with_progress, plan_runs
from gea.rollouts.report import text_report, write_report

USAGE = "usage: gea eval [key=value ...]"
ABOUT = """Evaluate agents on a suite of tasks with the same seeds for every agent, then write results.json,
results.csv, report.md, plots/<domain>.png, videos/ and tensorboard/ into out_dir. A rerun with the same
settings reuses finished tasks (resume=false starts over)."""


def main(argv: Sequence[str]) -> int:
    """Entry point of ``gea eval``."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(help_text("eval", EvalConfig, USAGE, ABOUT))
        return 0
    config = load_job_config("eval", EvalConfig, argv)
    out_dir = Path(config.out_dir)
    _, skipped = plan_runs(config)  # unknown ids, agents and checkpoints fail here, before anything is written
    save_config(config, out_dir / "config.yaml")
    results = evaluate_with_progress(config)
    payload = write_report(config, results, [task.env for task in skipped], out_dir)
    print()
    print(text_report(payload))
    print(f"\nreport: {out_dir / 'report.md'}")
    return 0
