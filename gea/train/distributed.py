"""``torch.distributed`` helpers shared by the training loops: start, seed, all-reduce, stop.

Launch with ``torchrun --nproc_per_node N ...``: each process reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``
from the environment and joins the process group, also when N is 1 (so ``strategy=fsdp`` really shards and
collectives really run on one GPU). Without torchrun, training runs as a single process with no process
group. The backend is gloo on CPU and NCCL on CUDA.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank, how many processes there are, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = CPU
    process_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs and writes checkpoints)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when this process is in a process group (even of one, under torchrun): DDP/FSDP wrap the model."""
        return self.process_group or self.world_size > 1

    def describe(self) -> str:
        """How this run is laid out, for the first log line (``2 processes in a gloo group``)."""
        if not self.distributed:
            return f"a single process on {self.device} (no process group)"
        backend = dist.get_backend() if dist.is_initialized() else "no"
        plural = "process" if self.world_size == 1 else "processes"
        return f"{self.world_size} {plural} in a {backend} group, this one rank {self.rank} on {self.device}"


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's CUDA device when there is one, else CPU; other strings as given."""
    if device == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if device == "cuda":
        return torch.device("cuda", local_rank)
    return torch.device(device)


def launched_by_torchrun() -> bool:
    """Whether torchrun (torch.distributed.run) started this process: it sets ``TORCHELASTIC_RUN_ID``."""
    return "TORCHELASTIC_RUN_ID" in os.environ


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistributedContext:
    """Join the process group described by torchrun's environment variables (or run alone without them).

    Under torchrun a process joins even when it is the only one, so one GPU runs the same DDP/FSDP and NCCL
    code as many.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if (world_size > 1 or launched_by_torchrun()) and not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return DistributedContext(rank, world_size, local_rank, resolved, process_group=dist.is_initialized())


def shutdown_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank (so all ranks start identical)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src)


def all_reduce_gradients(parameters: Iterable[nn.Parameter], weight: float | None = None) -> None:
    """Average the gradients of ``parameters`` over all ranks in one flat all-reduce (DD-PPO style).

    Without ``weight`` every rank counts the same. With ``weight`` (this rank's number of samples, when each
    rank's gradient is that of a mean loss over its own samples) the result is the per-sample average
    ``sum_r weight_r * g_r / sum_r weight_r``: the gradient of the mean loss over the union of all ranks'
    samples, also when ranks hold different numbers of them (DD-PPO's preempted rollouts).
    A parameter without a gradient on this rank counts as zero, so ranks whose batches touch different
    parameters (e.g. different embodiments' heads) stay in step.
    """
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    params = [parameter for parameter in parameters if parameter.requires_grad]
    if not params:
        return
    grads = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    if weight is None:
        flat = torch.cat(grads)
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
    else:
        total = torch.cat([*grads, torch.ones(1, dtype=grads[0].dtype, device=grads[0].device)]) * float(weight)
        dist.all_reduce(total)  # the last entry becomes the sum of the weights
        flat = total[:-1] / total[-1]
    offset = 0
    for parameter in params:
        count = parameter.numel()
        parameter.grad = flat[offset : offset + count].view_as(parameter).clone()
        offset += count


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over all ranks (a copy; unchanged when running alone)."""
    out = values.detach().clone()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(out)
        out /= dist.get_world_size()
    return out


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The sum of ``values`` over all ranks (a copy; unchanged when running alone)."""
    out = values.detach().clone()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(out)
    return out


def all_gather_cat(values: torch.Tensor) -> torch.Tensor:
    """Concatenate the 1-d ``values`` of every rank along dim 0, in rank order (sizes may differ)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return values
    size = torch.tensor([values.numel()], device=values.device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    largest = int(max(int(s) for s in sizes))
    padded = torch.zeros(largest, dtype=values.dtype, device=values.device)
    padded[: values.numel()] = values.reshape(-1)
    gathered = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return torch.cat([chunk[: int(s)] for chunk, s in zip(gathered, sizes, strict=True)])
