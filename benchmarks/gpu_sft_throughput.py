"""SFT throughput on one CUDA GPU: samples/s of the tiny GEA policy in fp32 vs bf16 autocast (``policy.bf16``).

One process, the default tiny policy (LLaVA-OneVision class), c = 3, ``--batch`` windows per optimizer step from a
BabyAI-bot dataset collected into a temporary folder (64 px). Two rates per precision, each over ``--steps`` steps
after ``--warmup`` steps, timed between ``torch.cuda.synchronize()`` calls: *step* is what ``gea sft`` sees (reading
and collating windows on the CPU, then the update); *update* is the update alone, cycling through 10 steps'
batches collated beforehand (the GPU-side ceiling). Prints a markdown table; ``--out FILE`` also writes it (e.g.
under benchmarks/results). Without a CUDA device it says so and exits 0.

    python benchmarks/gpu_sft_throughput.py --batch 64 --steps 30 --out benchmarks/results/gpu_sft_throughput.md
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from gea.agents.config import PolicyConfig
from gea.rollouts.collect import CollectConfig, collect
from gea.train.distributed import DistributedContext
from gea.train.sft.config import DataConfig, OptimConfig, SFTConfig
from gea.train.sft.trainer import SFTTrainer

ENV = "babyai:GoToRedBallNoDists"
PREPARED = 10  # distinct pre-collated steps that the update-only timing cycles through


def make_trainer(data: Path, bf16: bool, batch: int, total_steps: int, out: Path) -> SFTTrainer:
    """A single-process ``SFTTrainer`` on CUDA for the tiny policy, fp32 or bf16 autocast."""
    config = SFTConfig(
        data=DataConfig(paths=[str(data)]),
        policy=PolicyConfig(bf16=bf16),
        optim=OptimConfig(lr=1e-4),
        steps=total_steps,
        batch_size=batch,
        device="cuda",
        out_dir=str(out),
        save_every=0,
        progress=False,
    )
    return SFTTrainer(config, DistributedContext(device=torch.device("cuda", 0)))


def rates(data: Path, bf16: bool, batch: int, warmup: int, steps: int, out: Path) -> tuple[float, float]:
    """(samples/s of whole steps, samples/s of updates on pre-collated batches) for one precision."""
    trainer = make_trainer(data, bf16, batch, warmup + 2 * steps, out)  # a schedule as long as the timed steps
    for _ in range(warmup):
        trainer.update(trainer.next_batches())
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.update(trainer.next_batches())
    torch.cuda.synchronize()
    step_rate = steps * batch / (time.perf_counter() - start)
    ready = [[batch_.to(trainer.context.device) for batch_ in trainer.next_batches()] for _ in range(PREPARED)]
    torch.cuda.synchronize()
    start = time.perf_counter()
    for index in range(steps):
        trainer.update(ready[index % PREPARED])
    torch.cuda.synchronize()
    return step_rate, steps * batch / (time.perf_counter() - start)


def main() -> None:
    """Measure fp32 and bf16, print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=30, help="BabyAI-bot episodes to collect")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: the GPU SFT throughput benchmark needs one; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "babyai"
        collect(CollectConfig(envs=[ENV], episodes_per_task=args.episodes, out=str(data), num_envs=0, progress=False))
        results = {
            name: rates(data, bf16, args.batch, args.warmup, args.steps, Path(tmp) / name)
            for name, bf16 in (("fp32", False), ("bf16", True))
        }
    lines = [
        "# SFT throughput on one GPU: tiny GEA policy, fp32 vs bf16 autocast",
        "",
        f"Command: `python {' '.join(sys.argv)}`",
        "",
        f"Machine: {torch.cuda.get_device_name(0)}, {platform.machine()}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}. Tiny policy, c = 3, batch {args.batch} windows, {args.steps} timed steps after "
        f"{args.warmup} warmup steps, BabyAI-bot data ({args.episodes} episodes, 64 px).",
        "",
        "| precision | samples/s (whole step) | samples/s (update only) |",
        "|---|---|---|",
        *(f"| {name} | {step:.0f} | {update:.0f} |" for name, (step, update) in results.items()),
        "",
        f"bf16 / fp32: {results['bf16'][0] / results['fp32'][0]:.2f}x (whole step), "
        f"{results['bf16'][1] / results['fp32'][1]:.2f}x (update only).",
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
