"""The ``gea ppo`` loop: per rank, collect a rollout, update (PPO or an ablation), log, checkpoint; resumable."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from omegaconf import OmegaConf

from gea.train.checkpoint import latest_checkpoint, rng_state, save_checkpoint
from gea.train.distributed import DistributedContext, all_reduce_mean, all_reduce_sum, broadcast_module
from gea.train.ppo.agent import PPOAgent
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.logging import RunLogger
from gea.train.ppo.rollout import RolloutCollector
from gea.train.ppo.update import kl_to_start, ppo_update
from gea.train.ppo.variants import IQLTrainer, SuccessSFT


@dataclass
class TrainResult:
    """What a finished (or resumed and finished) run reports."""

    global_step: int
    updates: int
    episodes: int
    mean_return: float
    success_rate: float
    frames_per_second: float
    history: list[dict[str, float]]


def sft_batches(config: PPOConfig, context: DistributedContext) -> Iterator[list[dict[str, Any]]] | None:
    """Endless batches of dataset windows for the joint SFT term (None when no dataset is configured)."""
    if not config.sft.dataset or config.sft.weight == 0:
        return None
    from gea.rollouts.dataset import WindowDataset

    dataset = WindowDataset(
        config.sft.dataset, context=1, seed=config.seed, rank=context.rank, world_size=context.world_size
    )

    def batches() -> Iterator[list[dict[str, Any]]]:
        samples = iter(dataset)
        while True:
            yield [next(samples) for _ in range(config.sft.batch_size)]

    return batches()


class PPOTrainer:
    """Owns the agent, optimizer, collector and logger of one rank; ``train()`` runs to ``total_steps``."""

    def __init__(
        self, config: PPOConfig, context: DistributedContext, agent: PPOAgent, collector: RolloutCollector
    ) -> None:
        self.config, self.context, self.agent, self.collector = config, context, agent, collector
        broadcast_module(agent.module)
        parameters = [parameter for parameter in agent.module.parameters() if parameter.requires_grad]
        self.optimizer = torch.optim.Adam(parameters, lr=config.lr, eps=config.adam_eps, fused=True)
        self.steps_per_update = config.batch_per_rank * context.world_size
        self.total_updates = max(1, math.ceil(config.total_steps / self.steps_per_update))
        self.sft = sft_batches(config, context)
        self.success_sft = SuccessSFT(config, agent, self.optimizer) if config.algo == "success_sft" else None
        self.iql = IQLTrainer(config, agent, self.optimizer) if config.algo == "iql" else None
        self.update_index = 0
        self.history: list[dict[str, float]] = []
        self.out_dir = Path(config.out_dir)
        self.checkpoints = self.out_dir / "checkpoints"

    # ---------------------------------------------------------------------------------------- resume
    def maybe_resume(self) -> None:
        """With ``resume=true``, load the newest checkpoint of ``out_dir`` (model, optimizer, RNG, counters)."""
        checkpoint = latest_checkpoint(self.checkpoints) if self.config.resume else None
        if checkpoint is None:
            return
        checkpoint.load_model(self.agent.module)
        checkpoint.load_optimizer(self.optimizer)
        checkpoint.restore_rng(self.context.rank)
        state = checkpoint.trainer_state
        self.update_index = int(state["update"])
        self.history = list(state.get("history", []))
        self.agent.after_update()

    def save(self) -> None:
        """Write a checkpoint (rank 0 writes; every rank contributes its RNG state)."""
        states = [rng_state()]
        if self.context.distributed:
            gathered: list[Any] = [None] * self.context.world_size
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if self.context.is_main:
            save_checkpoint(
                self.checkpoints,
                self.update_index * self.steps_per_update,
                self.agent.module,
                self.optimizer,
                None,
                {"update": self.update_index, "history": self.history},
                OmegaConf.to_yaml(OmegaConf.structured(self.config)),
                keep=self.config.keep_checkpoints,
                rank_rng_states=states,
            )
        if self.context.distributed:
            dist.barrier()

    # ---------------------------------------------------------------------------------------- loop
    def train(self) -> TrainResult:
        """Collect and update until ``total_steps`` env steps (over all ranks) are done."""
        self.maybe_resume()
        logger = RunLogger(self.out_dir, self.context.is_main, self.config, self.total_updates * self.steps_per_update)
        logger.progress.update(self.update_index * self.steps_per_update)
        self.collector.reset(seed=self.config.seed + 10_007 * self.context.rank + 1_000_003 * self.update_index)
        start, start_update = time.perf_counter(), self.update_index
        try:
            while self.update_index < self.total_updates:
                metrics = self.train_one_update()
                self.update_index += 1
                elapsed = time.perf_counter() - start
                metrics["fps"] = (self.update_index - start_update) * self.steps_per_update / max(elapsed, 1e-9)
                self.history.append({"step": float(self.update_index * self.steps_per_update), **metrics})
                logger.log(self.update_index * self.steps_per_update, metrics, self.steps_per_update)
                last = self.update_index == self.total_updates
                if self.config.checkpoint_every > 0 and (self.update_index % self.config.checkpoint_every == 0 or last):
                    self.save()
        finally:
            logger.close()
        if self.context.is_main:
            self.agent.export(self.out_dir / "policy")
        return self.result(time.perf_counter() - start, start_update)

    def train_one_update(self) -> dict[str, float]:
        """One rollout and one update of the configured algorithm; returns the metrics to log."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        buffer = self.collector.collect()
        metrics = self.episode_metrics()
        if self.config.log_kl_start:
            metrics["kl_start"] = kl_to_start(self.agent, buffer, self.config.batch_per_rank // self.config.minibatches)
        if self.success_sft is not None:
            losses = self.success_sft.update(buffer, self.collector.stats)
        elif self.iql is not None:
            losses = self.iql.update(buffer)
        else:
            losses = ppo_update(self.agent, self.optimizer, buffer, self.config, self.sft)
        averaged = all_reduce_mean(torch.tensor(list(losses.values()), dtype=torch.float64))
        metrics.update(zip(losses, averaged.tolist(), strict=True))
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        metrics["worker_restarts"] = float(self.collector.restarts)
        return metrics

    def learning_rate(self) -> float:
        """The learning rate of the current update (linearly annealed to 0 with ``anneal_lr``)."""
        if not self.config.anneal_lr:
            return self.config.lr
        return self.config.lr * (1.0 - self.update_index / self.total_updates)

    def episode_metrics(self) -> dict[str, float]:
        """Return, success and length of the episodes that finished in this rollout, over all ranks."""
        finished = self.collector.stats.drain()
        sums = torch.tensor(
            [len(finished), sum(f[0] for f in finished), sum(f[2] for f in finished), sum(f[1] for f in finished)],
            dtype=torch.float64,
        )
        count, total_return, successes, length = all_reduce_sum(sums).tolist()
        if count == 0:
            return {"episodes": 0.0}
        return {
            "episodes": count,
            "return": total_return / count,
            "success": successes / count,
            "episode_length": length / count,
        }

    def result(self, elapsed: float, start_update: int) -> TrainResult:
        """Summary of the run from the logged history (last 10 updates with finished episodes)."""
        recent = [row for row in self.history if "return" in row][-10:]
        return TrainResult(
            global_step=self.update_index * self.steps_per_update,
            updates=self.update_index,
            episodes=int(sum(row.get("episodes", 0.0) for row in self.history)),
            mean_return=float(np.mean([row["return"] for row in recent])) if recent else float("nan"),
            success_rate=float(np.mean([row["success"] for row in recent])) if recent else float("nan"),
            frames_per_second=(self.update_index - start_update) * self.steps_per_update / max(elapsed, 1e-9),
            history=self.history,
        )
