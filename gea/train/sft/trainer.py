"""The SFT loop (stage 1): behaviour cloning of expert windows, loss on action tokens only, under torchrun.

One optimizer step, read top to bottom in ``train``:

1. draw ``batch_size x grad_accum`` windows from this rank's shard of the mixed datasets and collate them;
2. count the action tokens of the *global* batch (all micro-batches, all ranks);
3. forward/backward each micro-batch with loss = summed cross-entropy x world_size / global tokens, so that the
   DDP gradient average equals the gradient of the mean loss over the global batch however it is split;
4. clip, AdamW step, cosine schedule step; log, checkpoint, evaluate.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from omegaconf import OmegaConf
from torch import nn
from tqdm import tqdm

from gea.agents.policy import GEAPolicy
from gea.config import save_config
from gea.plugins import load_plugins
from gea.rollouts.dataset.reader import WindowDataset
from gea.train.checkpoint import latest_checkpoint, rng_state, save_checkpoint
from gea.train.distributed import (
    DistributedContext,
    all_reduce_sum,
    init_distributed,
    seed_everything,
    shutdown_distributed,
)
from gea.train.sft.batching import SFTBatch, SFTCollator
from gea.train.sft.config import SFTConfig
from gea.train.sft.evaluation import evaluate_policy
from gea.train.sft.metrics import TokenAccuracy
from gea.train.sft.model import SFTModel, sft_forward
from gea.train.sft.optim import make_optimizer, make_scheduler
from gea.train.sft.prefetch import Prefetcher
from gea.train.sft.setup import build_policy, dataset_embodiments, dataset_image_sizes, wrap_model

CHECKPOINT_DIR = "checkpoints"
POLICY_DIR = "policy"


@dataclass
class SFTResult:
    """What a run did: the last optimizer step reached, the last logged metrics, where the policy was saved
    (rank 0 only), and whether this process is rank 0."""

    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    policy_dir: Path | None = None
    is_main: bool = True


def gather_objects(value: Any) -> list[Any]:
    """``value`` of every rank, in rank order (a one-element list when running alone)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [value]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def gradient_sync(model: nn.Module, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Skip DDP's gradient all-reduce on all but the last micro-batch of a step."""
    if enabled or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()


class SFTTrainer:
    """Holds the policy, the wrapped model, optimizer, schedule, reader and logger of one SFT run."""

    def __init__(self, config: SFTConfig, context: DistributedContext) -> None:
        self.config, self.context = config, context
        if config.cpu_threads > 0:
            torch.set_num_threads(config.cpu_threads)
        seed_everything(config.seed)
        self.out_dir = Path(config.out_dir)
        self.embodiments = dataset_embodiments(config.data.weighted_paths())
        self.image_sizes = dataset_image_sizes(config.data.weighted_paths())
        self.policy: GEAPolicy = build_policy(config, self.embodiments)
        self.policy.to(context.device)
        # FSDP2 frees each layer's gathered weights after every call, which the backward of a layer called several
        # times per forward (shared headers, then windows) cannot survive: strategy=fsdp runs full prompts
        shared = self.policy.shares_prefix and config.strategy != "fsdp"
        self.model = SFTModel(self.policy.backbone, self.policy.config.bf16, shared)
        self.model.train()
        self.wrapped = wrap_model(self.model, config.strategy, context)
        self.optimizer = make_optimizer(self.model, config.optim)
        self.scheduler = make_scheduler(self.optimizer, config.optim, config.steps)
        self.reader = WindowDataset(
            config.data.weighted_paths(),
            context=self.policy.config.context,
            embodiment_weights=config.data.embodiment_weight_map(),
            seed=config.seed,
            rank=context.rank,
            world_size=context.world_size,
            block_row_groups=config.data.block_row_groups,
        )
        self.collator = SFTCollator(self.policy.prompts, self.policy.codec)
        self.accuracy = TokenAccuracy(self.embodiments)
        self.step = 0
        self.samples_seen = 0
        self._windows: Iterator[dict[str, Any]] | None = None
        self._prefetcher: Prefetcher[list[SFTBatch]] | None = None

    # ------------------------------------------------------------------------------------ checkpoints
    def resume(self) -> bool:
        """Continue from the newest checkpoint under ``out_dir``; False when there is none."""
        checkpoint = latest_checkpoint(self.out_dir / CHECKPOINT_DIR)
        if checkpoint is None:
            return False
        if self.config.strategy == "fsdp" and self.context.distributed:
            from gea.train.sft.fsdp_state import load_full_state

            load_full_state(checkpoint.path, self.model, self.policy.value_head, self.optimizer, self.scheduler)
        else:
            checkpoint.load_model(self.policy)
            checkpoint.load_optimizer(self.optimizer, self.scheduler)
        state = checkpoint.trainer_state
        self.step, self.samples_seen = int(state["step"]), int(state["samples_seen"])
        readers = state["reader"]
        self.reader.load_state_dict(readers[self.context.rank] if self.context.rank < len(readers) else readers[0])
        checkpoint.restore_rng(self.context.rank)
        self.policy.invalidate_cache()
        return True

    def save(self) -> Path:
        """Write a checkpoint of everything a resume needs (rank 0 writes; every rank contributes its state)."""
        readers = gather_objects(self.reader_state())
        rngs = gather_objects(rng_state())
        directory = self.out_dir / CHECKPOINT_DIR
        config_yaml = OmegaConf.to_yaml(OmegaConf.structured(self.config))
        trainer_state = {"samples_seen": self.samples_seen, "reader": readers, "embodiments": self.embodiments}
        if self.config.strategy == "fsdp" and self.context.distributed:
            from gea.train.sft.fsdp_state import save_full_state

            path = save_full_state(
                directory,
                self.step,
                self.model,
                self.policy.value_head,
                self.optimizer,
                self.scheduler,
                trainer_state,
                config_yaml,
                rngs,
                self.config.keep_checkpoints,
            )
        elif self.context.is_main:
            path = save_checkpoint(
                directory,
                self.step,
                self.policy,
                self.optimizer,
                self.scheduler,
                trainer_state,
                config_yaml,
                self.config.keep_checkpoints,
                rngs,
            )
        else:
            path = directory
        if self.context.distributed:
            dist.barrier()
        return path

    def export_policy(self) -> Path | None:
        """Save the trained policy with ``save_pretrained`` to ``out_dir/policy`` (rank 0; None elsewhere)."""
        policy: GEAPolicy | None = self.policy
        if self.config.strategy == "fsdp" and self.context.distributed:
            from gea.train.sft.fsdp_state import unsharded_policy

            policy = unsharded_policy(
                self.model, self.policy.value_head, lambda: build_policy(self.config, self.embodiments)
            )
        if policy is None or not self.context.is_main:
            return None
        return policy.save_pretrained(self.out_dir / POLICY_DIR)

    # ------------------------------------------------------------------------------------ one step
    def next_batches(self) -> list[SFTBatch]:
        """The micro-batches of the next optimizer step, from this rank's shard of the data."""
        if self._windows is None:
            self._windows = iter(self.reader)
        size = self.config.batch_size
        windows = [next(self._windows) for _ in range(size * self.config.grad_accum)]
        return [self.collator(windows[start : start + size]) for start in range(0, len(windows), size)]

    def prepared_batches(self) -> list[SFTBatch]:
        """``next_batches()``, their images already encoded into the feature cache while the tower is frozen (what
        the background thread prepares during the previous step; not under FSDP, whose sharded tower runs only
        inside the model's forward)."""
        batches = self.next_batches()
        backbone = self.policy.backbone
        if self.config.strategy != "fsdp" and backbone.tower_frozen and backbone.feature_cache.max_bytes > 0:
            for batch in batches:
                backbone.tower_features(batch.images[batch.image_valid])
        return batches

    def reader_state(self) -> dict[str, Any]:
        """The reader's position after the last batch trained on (not after one prepared ahead)."""
        return self._prefetcher.reader_state() if self._prefetcher is not None else self.reader.state_dict()

    def update(self, batches: list[SFTBatch]) -> float:
        """One optimizer step on ``batches`` (this rank's share of the global batch); returns the grad norm."""
        device = self.context.device
        local_tokens = torch.tensor([float(sum(batch.num_action_tokens for batch in batches))], dtype=torch.float64)
        global_tokens = float(all_reduce_sum(local_tokens.to(device)).item())
        scale = self.context.world_size / max(global_tokens, 1.0)
        for index, batch in enumerate(batches):
            with gradient_sync(self.wrapped, enabled=index == len(batches) - 1):
                output = sft_forward(self.wrapped, batch.to(device))
                (output.loss_sum * scale).backward()
            self.accuracy.add(output.correct, output.token_rows, batch.embodiments, float(output.loss_sum.detach()))
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.policy.invalidate_cache()
        self.step += 1
        self.samples_seen += sum(len(batch.embodiments) for batch in batches) * self.context.world_size
        return float(norm)

    # ------------------------------------------------------------------------------------ the loop
    def train(self) -> SFTResult:
        """Run optimizer steps until ``config.steps`` (or ``config.stop_at``), logging, checkpointing, evaluating."""
        config, main = self.config, self.context.is_main
        last = min(config.steps, config.stop_at or config.steps)
        writer = _summary_writer(self.out_dir) if main else None
        metrics: dict[str, float] = {}
        bar = tqdm(total=last, initial=self.step, desc="sft", unit="step", disable=not (main and config.progress))
        window_start, window_samples = time.perf_counter(), 0
        if config.data.prefetch:  # the next step's batches are prepared while this one computes (opt-in)
            self._prefetcher = Prefetcher(self.prepared_batches, self.reader.state_dict)
        try:
            while self.step < last:
                if self._prefetcher is not None:
                    batches = self._prefetcher.next(more=self.step + 1 < last)
                else:
                    batches = self.next_batches()
                grad_norm = self.update(batches)
                window_samples += sum(len(batch.embodiments) for batch in batches) * self.context.world_size
                bar.update(1)
                if self.step % config.log_every == 0 or self.step == last:
                    elapsed = time.perf_counter() - window_start
                    metrics = self.accuracy.summary(self.context.device)
                    metrics.update(
                        lr=self.scheduler.get_last_lr()[0], grad_norm=grad_norm, samples_per_s=window_samples / elapsed
                    )
                    window_start, window_samples = time.perf_counter(), 0
                    bar.set_postfix(loss=f"{metrics['loss']:.3f}", acc=f"{metrics['accuracy']:.2f}")
                    _log(writer, "train", metrics, self.step)
                if config.eval.every and self.step % config.eval.every == 0 and main:
                    self.model.eval()
                    _log(writer, "eval", evaluate_policy(self.policy, config.eval, self.image_sizes), self.step)
                    self.model.train()
                if (config.save_every and self.step % config.save_every == 0) or self.step == last:
                    self.save()
        finally:
            if self._prefetcher is not None:
                self._prefetcher.close()
                self._prefetcher = None
        bar.close()
        policy_dir = None
        if self.step >= config.steps:
            policy_dir = self.export_policy()
        if writer is not None:
            writer.close()
        return SFTResult(self.step, metrics, policy_dir, main)


def _summary_writer(out_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out_dir / "tensorboard"))


def _log(writer: Any, prefix: str, metrics: dict[str, float], step: int) -> None:
    if writer is None:
        return
    for name, value in metrics.items():
        writer.add_scalar(f"{prefix}/{name}", value, step)
    writer.flush()


def run_sft(config: SFTConfig) -> SFTResult:
    """Train as configured: join torchrun's process group (if any), resume when asked, train, leave the group."""
    load_plugins(config.imports)
    context = init_distributed(config.device)
    try:
        trainer = SFTTrainer(config, context)
        if context.is_main:
            print(f"sft: {context.describe()}; model {type(trainer.wrapped).__name__}", flush=True)
            save_config(config, Path(config.out_dir) / "config.yaml")
        if config.resume:
            trainer.resume()
        return trainer.train()
    finally:
        shutdown_distributed()
