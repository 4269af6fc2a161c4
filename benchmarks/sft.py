"""SFT training speed: samples/s of the ``gea sft`` loop vs the Hugging Face ``Trainer`` on the same model, data, batch.

All sides train the tiny default GEA policy (LLaVA-OneVision class) from the same initial weights on windows from
the same episode datasets (BabyAI bot + Meta-World scripted by default), c = 3, with the same collation
(``SFTCollator``: the acting prompt + target action tokens, labels on action tokens only), AdamW, cosine schedule
with warmup, clipping at 1.0, batch ``--batch`` windows per step, one process, ``--threads`` torch threads. Three
sides:

- ``gea``: ``SFTTrainer.train()``, the loop ``gea sft`` runs with its defaults: ``SFTModel`` (each distinct prompt
  header once per batch, logits only where a label is; summed cross-entropy on the action tokens, divided by their
  count).
- ``hf``: ``transformers.Trainer`` driving the same ``SFTModel`` forward (the model returns ``{"loss": ...}``): the
  two training loops around one forward.
- ``hf-generic``: ``transformers.Trainer`` on the policy's model class called the generic way: every row's full
  prompt (header + window) through ``LlavaOnevisionForConditionalGeneration.forward(inputs_embeds=...,
  attention_mask=..., position_ids=..., labels=...)``, which computes logits at every position and HF's own loss on
  the same labelled action tokens. The input embeddings (token embeddings + the same projected image features, the
  frozen tower's feature cache included) are built with the policy's backbone, as its prompt layout requires.

The HF sides get the windows through a ``torch.utils.data.IterableDataset`` over the same ``WindowDataset`` and the
collator as ``data_collator``. All log every 10 steps to TensorBoard and show their progress bars (each library's
defaults), and save no checkpoint in the timed steps. Timing covers ``--steps`` optimizer steps after ``--warmup``
steps, between step ends taken inside each loop (a wrapper around ``SFTTrainer.update``; a ``TrainerCallback`` on
the HF sides), by wall clock and by this process's CPU time (all its threads). Sides alternate (gea, hf,
hf-generic, then reversed) ``--repeats`` times; medians and spreads of the per-repeat ratios are reported in
``benchmarks/results/sft.md`` (and ``sft.json``, with the samples and action tokens of every timed step of every
side).

    python benchmarks/sft.py                                  # collects small datasets into a temporary folder
    python benchmarks/sft.py --data /data/babyai /data/mw --batch 16 --steps 30 --repeats 3
"""

from __future__ import annotations

import argparse
import functools
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from _bench import load_average, median_spread, paired_ratios, side_order, write_results
from torch import nn

from gea.rollouts.collect import CollectConfig, collect
from gea.rollouts.dataset import WindowDataset
from gea.train.distributed import DistributedContext
from gea.train.sft.batching import IGNORE, SFTCollator, join_headers
from gea.train.sft.config import DataConfig, OptimConfig, SFTConfig
from gea.train.sft.trainer import SFTTrainer

RESULTS = Path(__file__).parent / "results" / "sft.md"
LOG_EVERY = 10
"""Optimizer steps between logged metrics on both sides (gea's default ``log_every``)."""


def make_datasets(root: Path, episodes: int) -> list[str]:
    """Small real expert datasets: ``episodes`` BabyAI bot episodes and a tenth as many Meta-World scripted ones."""
    common = {"num_envs": 0, "image_size": 64, "progress": False}
    babyai, metaworld = str(root / "babyai"), str(root / "mw")
    collect(CollectConfig(envs=["babyai:GoToRedBallNoDists"], episodes_per_task=episodes, out=babyai, **common))
    collect(
        CollectConfig(envs=["metaworld:reach-v3"], episodes_per_task=max(1, episodes // 10), out=metaworld, **common)
    )
    return [babyai, metaworld]


def make_trainer(paths: list[str], batch: int, total_steps: int, out: Path) -> SFTTrainer:
    """A single-process ``SFTTrainer`` with its default logging (the gea side; its model and collator also serve
    the HF side)."""
    config = SFTConfig(
        data=DataConfig(paths=paths),
        optim=OptimConfig(lr=1e-4, warmup_fraction=0.1, grad_clip=1.0),
        steps=total_steps,
        batch_size=batch,
        device="cpu",
        out_dir=str(out),
        save_every=0,
        log_every=LOG_EVERY,
    )
    return SFTTrainer(config, DistributedContext())


@dataclass
class Run:
    """Samples per wall-clock second and per CPU second over the timed steps, and the samples and action tokens
    each timed step trained on."""

    samples_per_s: float
    samples_per_cpu_s: float
    samples: list[int]
    tokens: list[int]


class StepEnds:
    """Wall-clock and CPU times at the end of every optimizer step."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def mark(self) -> None:
        """Record the end of a step."""
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def rates(self, samples: int, warmup: int, steps: int) -> tuple[float, float]:
        """Samples per wall-clock and per CPU second from the end of step ``warmup`` to the end of the last step."""
        last = warmup + steps - 1
        return samples / (self.wall[last] - self.wall[warmup - 1]), samples / (self.cpu[last] - self.cpu[warmup - 1])


def time_gea(paths: list[str], batch: int, warmup: int, steps: int, out: Path) -> Run:
    """``SFTTrainer.train()`` (the loop ``gea sft`` runs), clocked at the end of every optimizer step."""
    trainer = make_trainer(paths, batch, warmup + steps, out)
    update = trainer.update
    ends = StepEnds()
    samples: list[int] = []
    tokens: list[int] = []

    def clocked_update(batches: list[Any]) -> float:
        norm = update(batches)
        ends.mark()
        samples.append(sum(len(part.embodiments) for part in batches))
        tokens.append(sum(part.num_action_tokens for part in batches))
        return norm

    trainer.update = clocked_update  # type: ignore[method-assign]
    trainer.train()
    return Run(*ends.rates(steps * batch, warmup, steps), samples[warmup:], tokens[warmup:])


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
        self.samples: list[int] = []
        self.tokens: list[int] = []

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
        self.samples.append(len(ids))
        self.tokens.append(correct.numel())
        return {"loss": loss_sum / max(1, correct.numel())}


class _GenericLossModel(nn.Module):
    """The policy's model class called the generic way on full rows (header + window), with ``labels``: logits at
    every position and the model's own loss (mean cross-entropy over the labelled tokens)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.samples: list[int] = []
        self.tokens: list[int] = []

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
        backbone = self.backbone
        ids, image_mask, attention_mask, labels = join_headers(
            header_ids, header_lengths, header_index, ids, image_mask, attention_mask, labels
        )
        embeds = backbone.embed(ids)
        features = backbone.image_features(images[image_valid]).reshape(-1, embeds.shape[-1])
        embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), features.to(embeds.dtype))
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # left padding
        output = backbone.model(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions, labels=labels
        )
        self.samples.append(len(ids))
        self.tokens.append(int((labels[:, 1:] != IGNORE).sum()))
        return {"loss": output.loss}


def time_hf(paths: list[str], batch: int, warmup: int, steps: int, out: Path, generic: bool = False) -> Run:
    """``transformers.Trainer`` on the same model, windows, collation and batch, clocked by ``on_step_end``: driving
    gea's ``SFTModel`` forward, or (``generic``) the model class's own forward on full rows."""
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

    ends = StepEnds()

    class StepClock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ends.mark()

    arguments = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=batch,
        max_steps=warmup + steps,
        learning_rate=1e-4,
        warmup_steps=0.1,
        lr_scheduler_type="cosine",
        max_grad_norm=1.0,
        weight_decay=0.0,
        logging_steps=LOG_EVERY,
        report_to=["tensorboard"],
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
    )
    model = _GenericLossModel(trainer.policy.backbone) if generic else _LossModel(trainer.model)
    hf = Trainer(
        model=model,
        args=arguments,
        train_dataset=_Windows(trainer.reader),
        data_collator=collate,
        callbacks=[StepClock()],
    )
    hf.train()
    return Run(
        *ends.rates(steps * batch, warmup, steps),
        model.samples[warmup : warmup + steps],
        model.tokens[warmup : warmup + steps],
    )


SIDES = {
    "gea": ("gea sft loop", time_gea),
    "hf": ("HF Trainer, same SFTModel forward", time_hf),
    "hf-generic": ("HF Trainer, model's generic forward", functools.partial(time_hf, generic=True)),
}


def main(argv: list[str] | None = None) -> None:
    """Run the sides alternately and write the results table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", default=None, help="episode dataset folders (default: collect small ones)")
    parser.add_argument("--episodes", type=int, default=60, help="BabyAI episodes to collect without --data")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loads = [load_average()]
    runs: dict[str, list[Run]] = {name: [] for name in SIDES}
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        paths = args.data or make_datasets(root / "data", args.episodes)
        for repeat in range(args.repeats):
            for name in side_order(list(SIDES), repeat):
                runs[name].append(SIDES[name][1](paths, args.batch, args.warmup, args.steps, root / f"{name}{repeat}"))
            rates = ", ".join(f"{name} {runs[name][-1].samples_per_s:.1f}" for name in SIDES)
            print(f"repeat {repeat}: samples/s {rates}", flush=True)
    loads.append(load_average())
    wall = {name: [run.samples_per_s for run in side_runs] for name, side_runs in runs.items()}
    cpu = {name: [run.samples_per_cpu_s for run in side_runs] for name, side_runs in runs.items()}
    ratios = {
        peer: {"wall": paired_ratios(wall["gea"], wall[peer]), "cpu": paired_ratios(cpu["gea"], cpu[peer])}
        for peer in ("hf", "hf-generic")
    }
    same_work = all(
        run.tokens == runs["gea"][index].tokens and run.samples == runs["gea"][index].samples
        for side_runs in runs.values()
        for index, run in enumerate(side_runs)
    )
    command = "python benchmarks/sft.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# SFT training speed: gea sft loop vs Hugging Face Trainer",
        "",
        f"Command: `{command.strip()}` ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}, CPU, "
        f"shared with other jobs; load average (1, 5, 15 min) at the start {loads[0]}, at the end {loads[1]}.",
        f"Model: tiny GEA policy (`PolicyConfig()`), c = 3, batch {args.batch} windows, {args.steps} timed steps after "
        f"{args.warmup} warmup steps, {args.repeats} repeats; sides alternate (gea, hf, hf-generic, then reversed).",
        "",
        "gea: `SFTTrainer(SFTConfig(..., log_every=10, save_every=0), ...).train()` (its loop, progress bar and "
        "TensorBoard as `gea sft` runs them). Peer: `Trainer(model, TrainingArguments(per_device_train_batch_size="
        f"{args.batch}, max_steps=..., learning_rate=1e-4, warmup_steps=0.1, lr_scheduler_type='cosine', "
        "max_grad_norm=1.0, logging_steps=10, report_to=['tensorboard'], save_strategy='no', use_cpu=True, "
        "remove_unused_columns=False), train_dataset=<the same WindowDataset>, data_collator=<the same "
        "SFTCollator>).train()`, with `model` either gea's `SFTModel` forward (hf) or the policy's "
        "`LlavaOnevisionForConditionalGeneration.forward(inputs_embeds=..., attention_mask=..., position_ids=..., "
        "labels=...)` on full rows (hf-generic; see the script's docstring). All clocked from the end of the last "
        "warmup step to the end of the last step (gea: a wrapper around `SFTTrainer.update`; HF: a "
        "`TrainerCallback.on_step_end`), by wall clock and by the process's CPU time (all threads).",
        "",
        "| side | samples/s (wall), median (min-max) | samples per CPU-s, median (min-max) | runs (wall) |",
        "|---|---:|---:|---|",
    ]
    for name, (label, _) in SIDES.items():
        runs_text = ", ".join(f"{rate:.1f}" for rate in wall[name])
        lines.append(f"| {label} | {median_spread(wall[name], 1)} | {median_spread(cpu[name], 1)} | {runs_text} |")
    lines += [
        "",
        "Speed-up of gea (median (min-max) of per-repeat ratios), goal >= 1.1x:",
        "",
        "| vs | wall clock | CPU time |",
        "|---|---:|---:|",
    ]
    for peer in ("hf", "hf-generic"):
        lines.append(
            f"| {SIDES[peer][0]} | **{median_spread(ratios[peer]['wall'], 2, 'x')}** "
            f"| {median_spread(ratios[peer]['cpu'], 2, 'x')} |"
        )
    lines += [
        "",
        f"Same samples and action tokens in every timed step on every side: {'yes' if same_work else 'NO'} "
        f"({sum(runs['gea'][0].tokens):,} action tokens per timed run).",
        "",
    ]
    record = {
        "args": {key: str(value) for key, value in vars(args).items()},
        "load_average": loads,
        "runs": {name: [vars(run) for run in side_runs] for name, side_runs in runs.items()},
        "ratios": ratios,
        "same_work": same_work,
    }
    write_results(args.output, "\n".join(lines), record)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
