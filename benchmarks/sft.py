"""SFT training speed: samples/s of the ``gea sft`` loop vs the Hugging Face ``Trainer`` on the same model, data, batch.

Both sides train the tiny default GEA policy (LLaVA-OneVision class) from the same initial weights on windows from
the same episode datasets (BabyAI bot + Meta-World scripted by default), c = 3, with the same collation
(``SFTCollator``: the acting prompt + target action tokens, labels on action tokens only), the same forward
(``SFTModel``: summed cross-entropy on the action tokens, divided by their count), AdamW, cosine schedule with
warmup, clipping at 1.0, batch ``--batch`` windows per step, one process, ``--threads`` torch threads. The HF side
gets the windows through a ``torch.utils.data.IterableDataset`` over the same ``WindowDataset`` and the collator as
its ``data_collator``; its model returns ``{"loss": ...}``. Timing covers ``--steps`` optimizer steps after
``--warmup`` steps, measured by wall clock between step ends (a ``TrainerCallback`` on the HF side). Sides
alternate ``--repeats`` times (the machine may be shared); medians are reported in
``benchmarks/results/sft.md``.

    python benchmarks/sft.py                                  # collects small datasets into a temporary folder
    python benchmarks/sft.py --data /data/babyai /data/mw --batch 16 --steps 30 --repeats 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gea.rollouts.collect import CollectConfig, collect
from gea.rollouts.dataset import WindowDataset
from gea.train.distributed import DistributedContext
from gea.train.sft.batching import SFTCollator
from gea.train.sft.config import DataConfig, OptimConfig, SFTConfig
from gea.train.sft.trainer import SFTTrainer

RESULTS = Path(__file__).parent / "results" / "sft.md"


def make_datasets(root: Path) -> list[str]:
    """Small real expert datasets: BabyAI bot and Meta-World scripted episodes."""
    common = {"num_envs": 0, "image_size": 64, "progress": False}
    collect(CollectConfig(envs=["babyai:GoToRedBallNoDists"], episodes_per_task=60, out=str(root / "babyai"), **common))
    collect(CollectConfig(envs=["metaworld:reach-v3"], episodes_per_task=6, out=str(root / "mw"), **common))
    return [str(root / "babyai"), str(root / "mw")]


def make_trainer(paths: list[str], batch: int, total_steps: int, out: Path) -> SFTTrainer:
    """A single-process ``SFTTrainer`` (the gea side; its model and collator also serve the HF side)."""
    config = SFTConfig(
        data=DataConfig(paths=paths),
        optim=OptimConfig(lr=1e-4, warmup_fraction=0.1, grad_clip=1.0),
        steps=total_steps,
        batch_size=batch,
        device="cpu",
        out_dir=str(out),
        save_every=0,
        progress=False,
    )
    return SFTTrainer(config, DistributedContext())


def time_gea(paths: list[str], batch: int, warmup: int, steps: int, out: Path) -> float:
    """Samples/s of the gea loop body (``next_batches`` + ``update``, what ``SFTTrainer.train`` runs per step)."""
    trainer = make_trainer(paths, batch, warmup + steps, out)
    for _ in range(warmup):
        trainer.update(trainer.next_batches())
    start = time.perf_counter()
    for _ in range(steps):
        trainer.update(trainer.next_batches())
    return steps * batch / (time.perf_counter() - start)


class _Windows(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """The same window stream for the HF ``Trainer``."""

    def __init__(self, reader: WindowDataset) -> None:
        self.reader = reader

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.reader)


class _LossModel(nn.Module):
    """The same ``SFTModel`` forward, returning the mean action-token loss as HF ``Trainer`` expects."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        ids: torch.Tensor,
        image_mask: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        images: torch.Tensor,
        image_valid: torch.Tensor,
        header_ids: torch.Tensor,
        header_lengths: torch.Tensor,
        header_index: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        loss_sum, correct, _ = self.model(
            ids, image_mask, attention_mask, labels, images, image_valid, header_ids, header_lengths, header_index
        )
        return {"loss": loss_sum / max(1, correct.numel())}


def time_hf(paths: list[str], batch: int, warmup: int, steps: int, out: Path) -> float:
    """Samples/s of ``transformers.Trainer`` on the same model, windows, collation and batch."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    trainer = make_trainer(paths, batch, warmup + steps, out)
    collator: SFTCollator = trainer.collator

    def collate(windows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        collated = collator(windows)
        return {
            "ids": collated.ids,
            "image_mask": collated.image_mask,
            "attention_mask": collated.attention_mask,
            "labels": collated.labels,
            "images": collated.images,
            "image_valid": collated.image_valid,
            "header_ids": collated.header_ids,
            "header_lengths": collated.header_lengths,
            "header_index": collated.header_index,
        }

    ends: list[float] = []

    class StepClock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ends.append(time.perf_counter())

    arguments = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=batch,
        max_steps=warmup + steps,
        learning_rate=1e-4,
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        max_grad_norm=1.0,
        weight_decay=0.0,
        logging_steps=10_000,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=True,
    )
    hf = Trainer(
        model=_LossModel(trainer.model),
        args=arguments,
        train_dataset=_Windows(trainer.reader),
        data_collator=collate,
        callbacks=[StepClock()],
    )
    hf.train()
    return steps * batch / (ends[warmup + steps - 1] - ends[warmup - 1])


def main() -> None:
    """Run both sides alternately and write the results table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", default=None, help="episode dataset folders (default: collect small ones)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        paths = args.data or make_datasets(root / "data")
        gea_rates, hf_rates = [], []
        for repeat in range(args.repeats):
            gea_rates.append(time_gea(paths, args.batch, args.warmup, args.steps, root / f"gea{repeat}"))
            hf_rates.append(time_hf(paths, args.batch, args.warmup, args.steps, root / f"hf{repeat}"))
            print(f"repeat {repeat}: gea {gea_rates[-1]:.1f} samples/s, HF Trainer {hf_rates[-1]:.1f} samples/s")
    gea_median, hf_median = statistics.median(gea_rates), statistics.median(hf_rates)
    command = "python benchmarks/sft.py " + " ".join(sys.argv[1:])
    lines = [
        "# SFT training speed: gea sft loop vs Hugging Face Trainer",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, CPU, "
        "shared with other jobs (sides alternate; medians).",
        f"Model: tiny GEA policy (LLaVA-OneVision class), c = 3, batch {args.batch} windows, "
        f"{args.steps} timed steps after {args.warmup} warmup steps, {args.repeats} repeats.",
        "",
        "| side | samples/s (median) | runs |",
        "|---|---|---|",
        f"| gea sft loop | {gea_median:.1f} | {', '.join(f'{r:.1f}' for r in gea_rates)} |",
        f"| HF Trainer | {hf_median:.1f} | {', '.join(f'{r:.1f}' for r in hf_rates)} |",
        "",
        f"Speed-up: **{gea_median / hf_median:.2f}x** (target >= 1.0x).",
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
