"""MLLM PPO env-steps/s at the quickstart's PPO settings: the previous code path vs the current one, interleaved.

Both sides run ``gea ppo`` with the config ``gea quickstart`` builds for its PPO stage (``gea.quickstart.ppo_config``:
GEA recipe with LoRA, PopArt critic, joint SFT term on the quickstart's expert data, KL to the start policy; its task,
envs, rollout length, minibatches and image size) from a policy saved for the quickstart's embodiments, for
``--updates`` updates, and report ``TrainResult.frames_per_second`` (env steps per second of the training loop:
acting, stepping the envs, the update and the KL estimate).

- ``previous``: the code path before the pretrained tower and the speed-ups, and its default model: the tiny model's
  SigLIP tower, every prompt re-scored in full, no feature cache
  (``vision=siglip, shared_prefix=false, feature_cache_mb=0`` saved with the policy);
- ``current``: today's defaults (EfficientNet-Lite0, frozen, cached per frame; each distinct header run once).

The policies are untrained (speed does not depend on the weights' values); sides alternate ``--repeats`` times.

    python benchmarks/ppo_speed.py --data outputs/quickstart/data --tokenizer outputs/quickstart/tokenizer/tokenizer
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch
from _bench import speed_table

from gea.agents import GEAPolicy, PolicyConfig
from gea.config import load_job_config
from gea.quickstart import QuickstartConfig, ppo_config
from gea.tokenizers.base import load_tokenizer
from gea.train.ppo import PPOConfig, run_ppo
from gea.train.sft.setup import dataset_embodiments

RESULTS = Path(__file__).parent / "results" / "ppo_speed.md"
SIDES: dict[str, dict[str, object]] = {
    "previous": {"vision": "siglip", "shared_prefix": False, "feature_cache_mb": 0},
    "current": {},
}


def save_policy(side: str, data: str, tokenizer: str, quick: QuickstartConfig, out: Path) -> Path:
    """A policy of ``side``'s settings for every embodiment of the data (what the quickstart's SFT stage saves)."""
    config = PolicyConfig(context=quick.sft.context, visual_tokens=quick.sft.visual_tokens, **SIDES[side])  # type: ignore[arg-type]
    continuous = load_tokenizer(Path(tokenizer))
    policy = GEAPolicy.build(config, dataset_embodiments({data: 1.0}), continuous=continuous)
    return policy.save_pretrained(out)


def quickstart_ppo_config(policy: Path, data: str, quick: QuickstartConfig, updates: int, out: Path) -> PPOConfig:
    """The PPO config ``gea quickstart`` runs (``gea.quickstart.ppo_config``) from ``policy``, ``updates`` updates."""
    config = ppo_config(quick)
    return dataclasses.replace(
        config,
        policy=dataclasses.replace(config.policy, path=str(policy)),
        sft=dataclasses.replace(config.sft, dataset=data),
        total_steps=quick.ppo.num_envs * quick.ppo.rollout_steps * updates,
        out_dir=str(out),
        checkpoint_every=0,
        resume=False,
        progress=False,
    )


def main() -> None:
    """Alternate the sides ``--repeats`` times and write the results table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the quickstart's data folder (outputs/quickstart/data)")
    parser.add_argument("--tokenizer", required=True, help="its fitted RVQ (outputs/quickstart/tokenizer/tokenizer)")
    parser.add_argument("--updates", type=int, default=None, help="PPO updates per run (default: the quickstart's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    quick = load_job_config("quickstart", QuickstartConfig, [])
    updates = args.updates or quick.ppo.updates
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        policies = {side: save_policy(side, args.data, args.tokenizer, quick, root / side) for side in SIDES}
        for repeat in range(args.repeats):
            for side in SIDES:
                out = root / f"run-{side}-{repeat}"
                result = run_ppo(quickstart_ppo_config(policies[side], args.data, quick, updates, out))
                rates[side].append(result.frames_per_second)
                print(f"repeat {repeat}: {side} {rates[side][-1]:.1f} env steps/s", flush=True)
    write_results(args, updates, quick, rates, load_before, os.getloadavg())


def write_results(
    args: argparse.Namespace,
    updates: int,
    quick: QuickstartConfig,
    rates: dict[str, list[float]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    """The markdown table of medians, spreads and the ratio to the previous path."""
    command = "python benchmarks/ppo_speed.py " + " ".join(sys.argv[1:])
    section = quick.ppo
    lines = [
        "# MLLM PPO env steps/s at the quickstart's PPO settings: previous code path vs current",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {platform.machine()}, {os.cpu_count()} cores shared with "
        f"other jobs, torch {torch.__version__}, {quick.threads} torch thread(s). Load average (1/5/15 min) before: "
        f"{' / '.join(f'{x:.2f}' for x in load_before)}, after: {' / '.join(f'{x:.2f}' for x in load_after)}.",
        f"Task: {', '.join(section.envs)}, {section.num_envs} envs x {section.rollout_steps} steps per rollout, "
        f"{updates} updates per run (2 epochs x 2 minibatches + joint SFT term of 8 windows, LoRA rank 16), "
        f"{quick.image_size} px images; sides alternate, {args.repeats} repeats.",
        "",
        *speed_table(rates, "env steps/s"),
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
