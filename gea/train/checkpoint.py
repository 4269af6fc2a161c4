"""Training checkpoints: model (safetensors), optimizer, scheduler, RNG states and counters; atomic; resumable.

Layout of a run's checkpoint folder::

    checkpoints/
      step_000001024/            one checkpoint (written as step_...tmp, then renamed)
        model.safetensors        every parameter and buffer of the module (``safetensors.torch.save_model``)
        optimizer.pt             optimizer + scheduler state (tensors and plain types; loaded weights_only)
        trainer.json             counters and any JSON-able trainer state (``step``, ``update``, ...)
        rng.pt                   every rank's Python, NumPy, torch CPU/CUDA generator states (weights_only)
        config.yaml              the resolved run config (optional)
      latest                     name of the newest complete checkpoint (replaced atomically)

A crash at any moment leaves either the previous ``latest`` or the new one, never a half-written folder
that ``latest_checkpoint`` would return.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from gea.errors import ConfigError
from gea.files import atomic_write_text

LATEST = "latest"
MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
TRAINER_FILE = "trainer.json"
RNG_FILE = "rng.pt"
CONFIG_FILE = "config.yaml"


def rng_state() -> dict[str, Any]:
    """Every global generator's state, as tensors and plain types (loadable with ``weights_only=True``)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [*random.getstate()[1], random.getstate()[0]],
        "python_gauss": random.getstate()[2],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position)},
        "numpy_gauss": [int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    python = state["python"]
    random.setstate((python[-1], tuple(python[:-1]), state["python_gauss"]))
    numpy = state["numpy"]
    has_gauss, gauss = state["numpy_gauss"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["kind"], keys, numpy["position"], int(has_gauss), gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Checkpoint:
    """A checkpoint folder found on disk."""

    path: Path

    @property
    def trainer_state(self) -> dict[str, Any]:
        """The JSON trainer state (``step`` and whatever else the trainer saved)."""
        return json.loads((self.path / TRAINER_FILE).read_text())

    def load_model(self, module: nn.Module) -> None:
        """Load the saved parameters and buffers into ``module`` (strict: same architecture)."""
        missing, unexpected = load_model(module, str(self.path / MODEL_FILE), strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"{self.path} does not match the model: missing {sorted(missing)[:5]}, unexpected "
                f"{sorted(unexpected)[:5]}; resume with the same model settings or start a new out_dir"
            )

    def load_optimizer(
        self, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    ) -> None:
        """Restore optimizer (and scheduler) state."""
        state = torch.load(self.path / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])

    def restore_rng(self, rank: int = 0) -> None:
        """Restore the global generators of ``rank`` (a run resumed on more ranks reuses rank 0's for new ones)."""
        states = torch.load(self.path / RNG_FILE, map_location="cpu", weights_only=True)["ranks"]
        set_rng_state(states[rank] if rank < len(states) else states[0])


def save_checkpoint(
    directory: Path,
    step: int,
    module: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    trainer_state: dict[str, Any],
    config_yaml: str | None = None,
    keep: int = 2,
    rank_rng_states: list[dict[str, Any]] | None = None,
) -> Path:
    """Write checkpoint ``step_<step>`` of ``module`` (see ``write_checkpoint``).

    ``rank_rng_states``: every rank's ``rng_state()`` in rank order (gather them on rank 0, which writes);
    default: this process's only.
    """
    optimizer_state = None
    if optimizer is not None:
        optimizer_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler else None,
        }
    return write_checkpoint(
        directory,
        step,
        lambda path: save_model(module, str(path), force_contiguous=True),
        optimizer_state,
        trainer_state,
        config_yaml,
        keep,
        rank_rng_states or [rng_state()],
    )


def write_checkpoint(
    directory: Path,
    step: int,
    write_model: Callable[[Path], None],
    optimizer_state: dict[str, Any] | None,
    trainer_state: dict[str, Any],
    config_yaml: str | None,
    keep: int,
    rank_rng_states: list[dict[str, Any]],
) -> Path:
    """Write checkpoint ``step_<step>`` atomically, point ``latest`` at it and keep only the newest ``keep``.

    ``write_model(path)`` writes the model's safetensors file; ``optimizer_state`` holds ``optimizer`` and
    ``scheduler`` state dicts. The folder is built under a temporary name and renamed, so a crash never
    leaves a checkpoint that reads as complete.
    """
    directory.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:012d}"
    final, temporary = directory / name, directory / f"{name}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    write_model(temporary / MODEL_FILE)
    if optimizer_state is not None:
        torch.save(optimizer_state, temporary / OPTIMIZER_FILE)
    (temporary / TRAINER_FILE).write_text(json.dumps({**trainer_state, "step": step}, indent=2))
    torch.save({"ranks": rank_rng_states}, temporary / RNG_FILE)
    if config_yaml is not None:
        (temporary / CONFIG_FILE).write_text(config_yaml)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(temporary, final)
    atomic_write_text(directory / LATEST, name)
    for old in sorted(directory.glob("step_*"))[:-keep] if keep > 0 else []:
        if old.name != name and not old.name.endswith(".tmp"):
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(directory: Path) -> Checkpoint | None:
    """The newest complete checkpoint under ``directory``, or None."""
    pointer = directory / LATEST
    if not pointer.is_file():
        return None
    path = directory / pointer.read_text().strip()
    return Checkpoint(path) if (path / TRAINER_FILE).is_file() else None
