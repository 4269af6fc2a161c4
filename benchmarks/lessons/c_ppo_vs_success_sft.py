"""Lesson c: SFT -> PPO vs SFT alone vs SFT -> success-SFT, on the same rollout budget.

One SFT policy (the quickstart's stages on a one-task suite); then the same number of environment steps of
either PPO or fine-tuning on the policy's own successful episodes, with the same ``gea ppo`` settings
(``--ppo-overrides``; by default full fine-tuning without a joint SFT term, as in
``benchmarks/ppo_from_sft.sh``). All three policies are evaluated on the same episodes.

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
    parser.add_argument("--task", default="babyai:GoToRedBallNoDists")
    parser.add_argument("--env-kwargs", default="{view: agent}", help="the task's env options (a Hydra dict)")
    parser.add_argument("--demos", type=int, default=100, help="expert episodes for SFT")
    parser.add_argument("--sft-steps", type=int, default=60)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--rollout-steps", type=int, default=64)
    parser.add_argument("--updates", type=int, default=20, help="rollouts of num-envs x rollout-steps env steps")
    parser.add_argument(
        "--ppo-overrides",
        default="policy.lora.enabled=false,sft.weight=0,epochs=4,minibatches=4,lr=3e-4,entropy_coef=1e-3,gamma=0.99",
        help="gea ppo settings for both PPO and success-SFT (comma-separated)",
    )
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--table", type=Path, default=Path(__file__).parent / "results" / "c_ppo_vs_success_sft.md")
    args = parser.parse_args()
    task = f'{{env: "{args.task}", max_steps: 64, env_kwargs: {args.env_kwargs}, demos: {args.demos}}}'
    common = [
        "suite.name=lesson_c",
        f"suite.tasks=[{task}]",
        f"ppo.envs=[{args.task}]",
        f"sft.steps={args.sft_steps}",
        f"ppo.num_envs={args.num_envs}",
        f"ppo.rollout_steps={args.rollout_steps}",
        f"ppo.updates={args.updates}",
        "ppo.overrides=[" + ",".join(f"'{item}'" for item in args.ppo_overrides.split(",")) + "]",
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
        f"--env-kwargs '{args.env_kwargs}' --demos {args.demos} --sft-steps {args.sft_steps} "
        f"--num-envs {args.num_envs} --rollout-steps {args.rollout_steps} --updates {args.updates} "
        f"--ppo-overrides '{args.ppo_overrides}' --eval-episodes {args.eval_episodes}"
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
