"""Checkpoints of an FSDP-sharded SFT model in the same layout as ``gea.train.checkpoint``.

Every rank takes part in gathering the full (unsharded) model and optimizer state; rank 0 writes them. The
model file holds the same keys as a DDP run's (``backbone.*`` of the policy, plus its value head), so a run
can resume under either strategy from the other's checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from gea.agents.policy import GEAPolicy
from gea.train.checkpoint import MODEL_FILE, OPTIMIZER_FILE, write_checkpoint

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)
LOAD = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True, strict=False)


def save_full_state(
    directory: Path,
    step: int,
    model: nn.Module,
    extra: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    trainer_state: dict[str, Any],
    config_yaml: str,
    rank_rng_states: list[dict[str, Any]],
    keep: int,
) -> Path:
    """Gather and write checkpoint ``step_<step>`` (``extra``: unsharded modules saved beside, e.g. the value head)."""
    weights = get_model_state_dict(model, options=FULL)
    optimizer_state = get_optimizer_state_dict(model, optimizer, options=FULL)
    final = directory / f"step_{step:012d}"
    if dist.get_rank() == 0:
        tensors = {key: value.detach().clone().contiguous() for key, value in canonical_weights(model, weights).items()}
        tensors.update(
            {key: value.detach().cpu().clone() for key, value in extra.state_dict(prefix="value_head.").items()}
        )
        write_checkpoint(
            directory,
            step,
            lambda path: save_file(tensors, str(path)),
            {"optimizer": optimizer_state, "scheduler": scheduler.state_dict()},
            trainer_state,
            config_yaml,
            keep,
            rank_rng_states,
        )
    return final


def canonical_weights(model: nn.Module, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``tensors`` under the one name ``model`` gives each parameter/buffer (found under any of its aliases:
    the policy's ``Backbone`` exposes its vision tower and decoder under a second name, and embeddings are tied)."""
    saved = set(model.state_dict())  # leaves out non-persistent buffers
    aliases: dict[int, list[str]] = {}
    named = [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]
    for name, tensor in named:
        if name in saved:
            aliases.setdefault(id(tensor), []).append(name)
    weights = {}
    for names in aliases.values():
        found = next((name for name in names if name in tensors), None)
        if found is None:
            raise ValueError(f"checkpoint lacks {names[0]}; resume with the same model settings")
        weights[names[0]] = tensors[found]
    return weights


def load_full_state(
    path: Path,
    model: nn.Module,
    extra: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> None:
    """Load a checkpoint written by ``save_full_state`` (or by a DDP run) into the sharded ``model``."""
    tensors = load_file(str(path / MODEL_FILE))
    extra.load_state_dict(
        {key[len("value_head.") :]: value for key, value in tensors.items() if key.startswith("value_head.")}
    )
    weights = canonical_weights(model, tensors)
    state = torch.load(path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    set_model_state_dict(model, weights, options=LOAD)
    set_optimizer_state_dict(model, optimizer, state["optimizer"], options=LOAD)
    scheduler.load_state_dict(state["scheduler"])


def unsharded_policy(model: nn.Module, value_head: nn.Module, build: Callable[[], GEAPolicy]) -> GEAPolicy | None:
    """On rank 0: a fresh policy from ``build()`` holding the sharded ``model``'s trained weights and ``value_head``
    (for ``save_pretrained``); None on the other ranks. Every rank must call it (the weights are gathered)."""
    weights = get_model_state_dict(model, options=FULL)
    if dist.get_rank() != 0:
        return None
    policy = build()
    policy.backbone.load_state_dict({key.removeprefix("backbone."): value for key, value in weights.items()})
    policy.value_head.load_state_dict(value_head.state_dict())
    return policy
