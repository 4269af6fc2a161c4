"""DD-PPO's preemption of stragglers: a rollout ends on every rank once ``sync_frac`` of the ranks have finished.

Wijmans et al. (DD-PPO, ICLR 2020) end the rollouts of the slowest ranks early so that one slow simulator does not
hold every GPU at the gradient all-reduce; habitat-baselines uses ``sync_frac=0.6`` and lets a preempted rank stop
only after a quarter of its rollout. Here each rank counts its own steps; a rank that collects its whole rollout
adds one to a counter in a ``TCPStore`` (one key per update; rank 0 serves it, its port is broadcast once); every
rank still collecting polls the counter after each step (one local TCP round trip) and stops once
``ceil(sync_frac x world_size)`` ranks have finished and it has at least ``min_rollout_fraction`` of its steps.
Ranks then update on unequal numbers of samples; ``all_reduce_gradients(..., weight=samples)`` averages per sample.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta

import torch.distributed as dist

from gea.train.distributed import DistributedContext


class RolloutPreemption:
    """Decides when this rank's rollout ends early; a no-op alone or with ``sync_frac=1``."""

    def __init__(
        self, context: DistributedContext, sync_frac: float, min_rollout_fraction: float, rollout_steps: int
    ) -> None:
        self.enabled = context.world_size > 1 and sync_frac < 1.0
        self.needed = max(1, math.ceil(sync_frac * context.world_size))
        self.min_steps = max(1, math.ceil(min_rollout_fraction * rollout_steps))
        self.rank = context.rank
        self.store: dist.TCPStore | None = None
        if self.enabled:
            self.store = _shared_store(context)

    def should_stop(self, update: int, steps_done: int) -> bool:
        """Whether to end this rank's rollout of ``update`` now, after ``steps_done`` steps."""
        if self.store is None or steps_done < self.min_steps:
            return False
        return int(self.store.add(_key(update), 0)) >= self.needed

    def finished(self, update: int) -> None:
        """Count this rank as having collected its whole rollout of ``update``."""
        if self.store is not None:
            self.store.add(_key(update), 1)

    def forget(self, update: int) -> None:
        """Drop the counter of ``update`` (rank 0, once every rank has left that rollout)."""
        if self.store is not None and self.rank == 0:
            self.store.delete_key(_key(update))


def _key(update: int) -> str:
    return f"gea/ppo/rollouts_done/{update}"


def _shared_store(context: DistributedContext) -> dist.TCPStore:
    """A ``TCPStore`` served by rank 0 on a free port (sent to the other ranks through the process group)."""
    host = os.environ.get("MASTER_ADDR", "127.0.0.1")
    timeout = timedelta(minutes=30)
    if context.rank == 0:
        store = dist.TCPStore(host, 0, context.world_size, True, timeout=timeout, wait_for_workers=False)
        port = [store.port]
    else:
        port = [0]
    dist.broadcast_object_list(port, src=0)
    if context.rank == 0:
        return store
    return dist.TCPStore(host, int(port[0]), context.world_size, False, timeout=timeout)
