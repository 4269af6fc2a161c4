"""Lesson b: SFT on all domains vs SFT on one domain, evaluated on that domain.

The all-domain policy is the quickstart's (every task of the quick suite); each one-domain policy is trained
with the same settings (episodes per task, SFT steps, batch, lr) on that task's data only. All policies are
evaluated together on the same episodes (same seeds), with sampled actions.

    python benchmarks/lessons/b_all_domains_vs_one.py --out outputs/lessons/b
    (--all DIR reuses the data, tokenizer and SFT stages of a finished `gea quickstart` run with the same settings)
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from common import cell, quickstart, share_stage, success

from gea.config import load_job_config
from gea.rollouts.evaluate import EvalConfig, evaluate_with_progress
from gea.rollouts.report import write_report
from gea.rollouts.suites import SuiteConfig, SuiteTask
from gea.table import format_table


def main() -> None:
    """Train the all-domain and one-domain policies, evaluate them side by side, write the result table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/lessons/b"))
    parser.add_argument("--all", type=Path, default=None, help="a finished quickstart run to use as the all-domain one")
    parser.add_argument("--tasks", nargs="+", default=["babyai:GoToLocal", "procgen:coinrun"])
    parser.add_argument("--sft-steps", type=int, default=600)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--table", type=Path, default=Path(__file__).parent / "results" / "b_all_domains_vs_one.md")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    everything = args.out / "all"
    if args.all is not None:
        for stage in ("data", "tokenizer", "sft"):
            share_stage(args.all, everything, stage)
    train = [f"sft.steps={args.sft_steps}", "eval.agents=[random]", "eval.episodes=1"]
    quickstart(everything, train)
    singles = {task: args.out / task.replace(":", "_") for task in args.tasks}
    for task, folder in singles.items():
        quickstart(folder, [*train, f"tasks=[{task}]"])
    evaluation = load_job_config("eval", EvalConfig, [f"out_dir={args.out / 'eval'}", "image_size=32"])
    evaluation.videos_per_task = 0
    evaluation.num_workers = 2
    shared = ["random", f"gea-sample:{everything / 'sft' / 'policy'}"]
    results = []
    for task, folder in singles.items():
        suite = SuiteConfig("lesson_b", [SuiteTask(task, args.eval_episodes, args.max_steps)])
        part = dataclasses.replace(evaluation, suite=suite, agents=[*shared, f"gea-sample:{folder / 'sft' / 'policy'}"])
        results += evaluate_with_progress(part)
    evaluation.agents = list(dict.fromkeys(result.agent for result in results))
    evaluation.suite = SuiteConfig("lesson_b", [SuiteTask(t, args.eval_episodes, args.max_steps) for t in singles])
    payload = write_report(evaluation, results, [], args.out / "eval")
    rows = []
    for task, folder in singles.items():
        rows.append(
            [
                task,
                cell(success(payload, "random", task)),
                cell(success(payload, f"{everything.name}/sft/policy", task)),
                cell(success(payload, f"{folder.name}/sft/policy", task)),
            ]
        )
    command = (
        f"python benchmarks/lessons/b_all_domains_vs_one.py --out {args.out} --tasks {' '.join(args.tasks)} "
        f"--sft-steps {args.sft_steps} --eval-episodes {args.eval_episodes} --max-steps {args.max_steps}"
    )
    headers = ["task", "random", "SFT on all quick-suite domains", "SFT on this task's domain only"]
    text = "\n".join(
        [
            "# Lesson b: SFT on all domains vs one domain",
            "",
            f"Command: `{command}`" + (f" (all-domain run: `{args.all}`)" if args.all else ""),
            "",
            format_table(headers, rows, markdown=True),
            "",
        ]
    )
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
