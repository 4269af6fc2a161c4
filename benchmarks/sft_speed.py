"""SFT samples/s at the quickstart's settings: the previous code path vs the current one, interleaved in one run.

Sides (every side trains with the config ``gea quickstart`` builds for its SFT stage, ``gea.quickstart.sft_config``:
batch 16, context, visual tokens, lr, 1 torch thread, the fitted RVQ for continuous actions, on its expert data):

- ``previous``: the code path before the pretrained tower and the speed-ups, and its default: the tiny model's
  randomly initialised SigLIP tower trained with the rest, every row running its full prompt
  (``policy.vision=siglip policy.shared_prefix=false policy.feature_cache_mb=0``);
- ``current``: today's defaults: ImageNet EfficientNet-Lite0, frozen, its features cached per frame, each distinct
  prompt header run once per batch;
- ``current-siglip``: the speed-ups on the previous model (``policy.vision=siglip``): what sharing headers alone gives.

Each repeat builds a fresh trainer per side (empty feature cache: the cost of encoding frames the first time is
included), runs ``--warmup`` updates, then times ``--steps`` updates (``next_batches`` + ``update``, the body of
``SFTTrainer.train``). Sides alternate within each repeat; medians, min-max and the load average go to
``benchmarks/results/sft_speed.md``.

    python benchmarks/sft_speed.py --data outputs/quickstart/data --tokenizer outputs/quickstart/tokenizer/tokenizer
    python benchmarks/sft_speed.py --steps 200 --repeats 3   # collects the quickstart data first without --data
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from _bench import speed_table

from gea.config import load_job_config
from gea.quickstart import QuickstartConfig, run_collect, run_tokenizer, sft_config
from gea.train.distributed import DistributedContext
from gea.train.sft.config import SFTConfig
from gea.train.sft.trainer import SFTTrainer

RESULTS = Path(__file__).parent / "results" / "sft_speed.md"
SIDES: dict[str, dict[str, object]] = {
    "previous": {"vision": "siglip", "shared_prefix": False, "feature_cache_mb": 0},
    "current": {},
    "current-siglip": {"vision": "siglip"},
}


def quickstart_sft_config(data: str, tokenizer: str, out_dir: Path, overrides: dict[str, object]) -> SFTConfig:
    """The SFT config ``gea quickstart`` runs (``gea.quickstart.sft_config``) on ``data``, with policy ``overrides``."""
    config = sft_config(load_job_config("quickstart", QuickstartConfig, []))
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, paths=[data]),
        policy=dataclasses.replace(config.policy, **overrides),
        action_tokenizer=tokenizer,
        out_dir=str(out_dir),
        resume=False,
        save_every=0,
        progress=False,
    )


def time_side(config: SFTConfig, warmup: int, steps: int) -> float:
    """Samples/s of ``steps`` updates after ``warmup`` updates of a fresh trainer."""
    trainer = SFTTrainer(config, DistributedContext())
    for _ in range(warmup):
        trainer.update(trainer.next_batches())
    start = time.perf_counter()
    for _ in range(steps):
        trainer.update(trainer.next_batches())
    return steps * config.batch_size / (time.perf_counter() - start)


def quickstart_data(root: Path) -> tuple[str, str]:
    """Collect the quickstart's expert data and fit its tokenizer under ``root`` (its collect + tokenizer stages)."""
    quick = load_job_config("quickstart", QuickstartConfig, [f"out_dir={root}", "progress=false"])
    run_collect(quick)
    run_tokenizer(quick)
    return str(root / "data"), str(root / "tokenizer" / "tokenizer")


def main() -> None:
    """Alternate the sides ``--repeats`` times and write the results table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="the quickstart's data folder (default: collect it)")
    parser.add_argument("--tokenizer", default=None, help="the quickstart's fitted RVQ folder (tokenizer/tokenizer)")
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sides", nargs="*", default=list(SIDES), choices=list(SIDES))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {side: [] for side in args.sides}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        data, tokenizer = (args.data, args.tokenizer) if args.data else quickstart_data(root / "quickstart")
        for repeat in range(args.repeats):
            for side in args.sides:
                config = quickstart_sft_config(data, tokenizer, root / f"{side}-{repeat}", SIDES[side])
                rates[side].append(time_side(config, args.warmup, args.steps))
                print(f"repeat {repeat}: {side} {rates[side][-1]:.1f} samples/s", flush=True)
    load_after = os.getloadavg()
    write_results(args, rates, load_before, load_after)


def write_results(
    args: argparse.Namespace,
    rates: dict[str, list[float]],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    """The markdown table of medians, spreads and ratios to the previous path."""
    command = "python benchmarks/sft_speed.py " + " ".join(sys.argv[1:])
    lines = [
        "# SFT samples/s at the quickstart's settings: previous code path vs current",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {platform.machine()}, {os.cpu_count()} cores shared with "
        f"other jobs, torch {torch.__version__}, 1 torch thread. Load average (1/5/15 min) before: "
        f"{' / '.join(f'{x:.2f}' for x in load_before)}, after: {' / '.join(f'{x:.2f}' for x in load_after)}.",
        f"Each run: a fresh trainer (empty feature cache), {args.warmup} warmup + {args.steps} timed updates of 16 "
        f"windows; sides alternate, {args.repeats} repeats.",
        "",
        *speed_table(rates, "samples/s"),
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
