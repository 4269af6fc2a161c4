"""Lesson c: SFT -> PPO vs SFT alone vs SFT -> success-SFT, on the same rollout budget.

One SFT policy (the quickstart's stages on the chosen task); then the same number of environment steps of
either PPO (GEA recipe: LoRA + 0.1 x SFT term) or fine-tuning on the policy's own successful episodes.
All three policies are evaluated on the same episodes.

    python benchmarks/lessons/c_ppo_vs_success_sft.py --out outputs/lessons/c
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import cell, quickstart, share_stage, success

from gea.table import format_table


def main() -> None:
    """Run SFT once, then PPO and success-SFT from it, evaluate, write the result table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/lessons/c"))
    parser.add_argument("--task", default="babyai:GoToLocal")
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--updates", type=int, default=10, help="rollouts of ppo.num_envs x ppo.rollout_steps steps")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--table", type=Path, default=Path(__file__).parent / "results" / "c_ppo_vs_success_sft.md")
    args = parser.parse_args()
    common = [
        f"tasks=[{args.task}]",
        f"ppo.envs=[{args.task}]",
        f"sft.steps={args.sft_steps}",
        f"ppo.updates={args.updates}",
        f"eval.episodes={args.eval_episodes}",
    ]
    ppo = quickstart(args.out / "ppo", [*common, "ppo.algo=ppo", "eval.agents=[random,sft,sft+ppo]"])
    for stage in ("data", "tokenizer", "sft"):
        if (args.out / "ppo" / stage).exists():
            share_stage(args.out / "ppo", args.out / "success_sft", stage)
    tuned = quickstart(args.out / "success_sft", [*common, "ppo.algo=success_sft", "eval.agents=[sft+ppo]"])
    row = [
        args.task,
        cell(success(ppo, "random", args.task)),
        cell(success(ppo, "sft/policy", args.task)),
        cell(success(ppo, "ppo/policy", args.task)),
        cell(success(tuned, "ppo/policy", args.task)),
    ]
    command = (
        f"python benchmarks/lessons/c_ppo_vs_success_sft.py --out {args.out} --task {args.task} "
        f"--sft-steps {args.sft_steps} --updates {args.updates} --eval-episodes {args.eval_episodes}"
    )
    headers = ["task", "random", "SFT", "SFT -> PPO", "SFT -> success-SFT"]
    text = "\n".join(
        [
            "# Lesson c: SFT -> PPO vs SFT alone vs success-SFT (same rollout budget)",
            "",
            f"Command: `{command}`",
            "",
            format_table(headers, [row], markdown=True),
            "",
        ]
    )
    args.table.parent.mkdir(parents=True, exist_ok=True)
    args.table.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
