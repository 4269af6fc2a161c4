"""Learned residual VQ-VAE tokenizer for continuous actions, shared by every continuous embodiment.

Each embodiment's actions are normalized to [-1, 1] with its own statistics, zero-padded to
``max_dim`` (21), encoded to ``num_quantizers`` codes and decoded back, then truncated to the
embodiment's dimension and denormalized.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gea.errors import ConfigError, InvalidActionError
from gea.schema import option
from gea.tokenizers.base import (
    ActionTokenizer,
    ProgressCallback,
    fixed_length_ids,
    register_tokenizer,
    safe_sequences,
)
from gea.tokenizers.normalize import ActionStats, as_action_array
from gea.tokenizers.rvq_model import ResidualVQAutoencoder, RVQConfig

DEFAULT_EMBODIMENT = "default"
ActionsByEmbodiment = Mapping[str, np.ndarray]


@dataclass
class RVQTrainConfig:
    """Optimisation of the residual VQ-VAE."""

    steps: int = option(600, "training steps", minimum=1)
    batch_size: int = option(512, "actions per step", minimum=1)
    lr: float = option(2e-3, "AdamW learning rate", minimum=0)
    weight_decay: float = option(0.0, "AdamW weight decay", minimum=0)
    warmup_steps: int = option(50, "linear warmup steps", minimum=0)
    seed: int = option(0, "seed of initialisation, batches and the held-out split")
    log_every: int = option(50, "steps between logged metrics", minimum=1)
    threads: int = option(1, "torch threads while training (1 is fastest for the small model; 0: keep)", minimum=0)
    device: str = option("cpu", "where to train (cuda for the GEA-size model); the fitted model is kept on the CPU")


@register_tokenizer
class ResidualVQTokenizer(ActionTokenizer):
    """Residual VQ-VAE over padded normalized actions: ``num_quantizers`` tokens per action, each one of
    ``codebook_size`` ids (the codebook follows from the position).

    ``fit``/``encode``/``decode`` take ``embodiment=`` (the key used in ``fit``); it may be left out while
    only one embodiment is known. ``for_embodiment(id)`` gives a view bound to one embodiment.

    Decode rule: a missing, out-of-range or non-integer id at a position takes that codebook's
    smallest-norm code; ids past ``num_quantizers`` are ignored; the result is clipped to the
    embodiment's [low, high].
    """

    type_name = "rvq"

    def __init__(
        self,
        config: RVQConfig | None = None,
        train: RVQTrainConfig | None = None,
        stats: Mapping[str, ActionStats] | None = None,
    ) -> None:
        self.config = config or RVQConfig()
        self.train_config = train or RVQTrainConfig()
        self.stats: dict[str, ActionStats] = dict(stats or {})
        for name, item in self.stats.items():
            self._check_dim(name, item.dim)
        with torch.random.fork_rng():
            torch.manual_seed(self.train_config.seed)
            self.model = ResidualVQAutoencoder(self.config).eval()
        self._neutral: np.ndarray | None = None

    @property
    def vocab_size(self) -> int:
        """Codes per codebook (all positions share the id range)."""
        return self.config.codebook_size

    @property
    def tokens_per_action(self) -> int:
        """One token per codebook."""
        return self.config.num_quantizers

    @property
    def embodiments(self) -> tuple[str, ...]:
        """Embodiments with known statistics."""
        return tuple(self.stats)

    def for_embodiment(self, embodiment: str) -> EmbodimentRVQTokenizer:
        """A single-embodiment view sharing this model."""
        self._stats(embodiment)
        return EmbodimentRVQTokenizer(self, embodiment)

    def fit(
        self,
        actions: np.ndarray | ActionsByEmbodiment,
        *,
        progress: bool = True,
        on_log: ProgressCallback | None = None,
    ) -> ResidualVQTokenizer:
        """Train on actions (one array, or a mapping embodiment -> (N, dim) array); deterministic per seed.

        Statistics are computed for embodiments that have none yet. ``on_log(step, metrics)`` receives the
        training loss, reconstruction MSE and commitment loss every ``log_every`` steps.
        """
        by_embodiment = _as_mapping(actions)
        for name, array in by_embodiment.items():
            if name not in self.stats:
                self._check_dim(name, array.shape[1])
                self.stats[name] = ActionStats.from_actions(array, self.config.normalize_quantile)
        inputs, mask = self._padded(by_embodiment)
        if len(inputs) == 0:
            raise InvalidActionError("cannot fit the RVQ tokenizer on zero actions")
        with torch.random.fork_rng():
            self._train(inputs, mask, progress, on_log)
        self._neutral = None
        return self

    def encode_array(self, actions: Any, embodiment: str | None = None) -> np.ndarray:
        """(N, num_quantizers) int64 codes of a batch of actions."""
        name = self._name(embodiment)
        stats = self._stats(name)
        padded = self._pad(stats.normalize(as_action_array(actions, stats.dim)))
        if len(padded) == 0:
            return np.zeros((0, self.tokens_per_action), np.int64)
        with torch.inference_mode():
            return self.model.encode(torch.from_numpy(padded)).numpy().astype(np.int64)

    def decode_array(self, ids: np.ndarray, embodiment: str | None = None) -> np.ndarray:
        """(N, dim) actions of valid codes (N, num_quantizers)."""
        stats = self._stats(self._name(embodiment))
        if len(ids) == 0:
            return np.zeros((0, stats.dim), np.float32)
        with torch.inference_mode():
            padded = self.model.decode(torch.as_tensor(np.asarray(ids, np.int64))).numpy()
        return stats.denormalize(padded[:, : stats.dim])

    def encode(self, actions: Any, embodiment: str | None = None) -> list[list[int]]:
        """Codes of each action."""
        return self.encode_array(actions, embodiment).tolist()

    def decode(self, ids: Sequence[Sequence[Any]], embodiment: str | None = None) -> np.ndarray:
        """(N, dim) actions; see the class docstring for the rule on malformed ids."""
        neutral = self.neutral_ids()
        rows = [fixed_length_ids(row, neutral, self.vocab_size) for row in safe_sequences(ids)]
        array = np.stack(rows) if rows else np.zeros((0, len(neutral)), np.int64)
        return self.decode_array(array, embodiment)

    def neutral_ids(self) -> np.ndarray:
        """The fallback id of each position (the smallest-norm code of each codebook)."""
        if self._neutral is None:
            self._neutral = self.model.smallest_codes().numpy().astype(np.int64)
        return self._neutral

    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Every code while positions remain, then nothing."""
        if len(prefix) >= self.tokens_per_action:
            return np.zeros(0, np.int64)
        return np.arange(self.vocab_size, dtype=np.int64)

    def reconstruction_mse(self, actions: np.ndarray | ActionsByEmbodiment) -> float:
        """Mean squared error between normalized actions and their normalized reconstructions."""
        errors = []
        for name, array in _as_mapping(actions).items():
            stats = self._stats(name)
            decoded = self.decode_array(self.encode_array(array, name), name)
            errors.append(((stats.normalize(decoded) - stats.normalize(array)) ** 2).reshape(-1))
        return float(np.concatenate(errors).mean())

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Model and training configs, per-embodiment statistics, and the network's weights."""
        config = {
            "model": dataclasses.asdict(self.config),
            "train": dataclasses.asdict(self.train_config),
            "stats": {name: item.to_dict() for name, item in self.stats.items()},
        }
        return config, dict(self.model.state_dict())

    @classmethod
    def from_state(
        cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path
    ) -> ResidualVQTokenizer:
        """Rebuild from ``get_state``."""
        stats = {name: ActionStats.from_dict(item) for name, item in config["stats"].items()}
        tokenizer = cls(RVQConfig(**config["model"]), RVQTrainConfig(**config["train"]), stats)
        tokenizer.model.load_state_dict(tensors)
        tokenizer.model.eval()
        return tokenizer

    def _train(self, inputs: np.ndarray, mask: np.ndarray, progress: bool, on_log: ProgressCallback | None) -> None:
        train = self.train_config
        previous_threads = torch.get_num_threads()
        if train.threads > 0:
            torch.set_num_threads(train.threads)
        torch.manual_seed(train.seed)
        self.model = ResidualVQAutoencoder(self.config)
        generator = torch.Generator().manual_seed(train.seed)
        device = torch.device(train.device)
        self.model.to(device)
        data, weights = torch.from_numpy(inputs).to(device), torch.from_numpy(mask).to(device)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, train))
        self.model.train()
        bar = tqdm(range(train.steps), desc="fit rvq", disable=not progress, dynamic_ncols=True)
        try:
            for step in bar:
                rows = torch.randint(0, len(data), (min(train.batch_size, len(data)),), generator=generator).to(device)
                batch, batch_mask = data[rows], weights[rows]
                reconstruction, _, commitment = self.model(batch)
                mse = (((reconstruction - batch) ** 2) * batch_mask).sum() / batch_mask.sum()
                loss = mse + commitment
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                if step % train.log_every == 0 or step == train.steps - 1:
                    metrics = {"loss": loss.item(), "mse": mse.item(), "commitment": commitment.item()}
                    bar.set_postfix(mse=f"{metrics['mse']:.5f}")
                    if on_log is not None:
                        on_log(step, metrics)
        finally:
            self.model.cpu().eval()
            torch.set_num_threads(previous_threads)

    def _padded(self, by_embodiment: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        inputs, masks = [], []
        for name, array in by_embodiment.items():
            normalized = self.stats[name].normalize(array)
            inputs.append(self._pad(normalized))
            mask = np.zeros((len(array), self.config.max_dim), np.float32)
            mask[:, : array.shape[1]] = 1.0
            masks.append(mask)
        return np.concatenate(inputs), np.concatenate(masks)

    def _pad(self, normalized: np.ndarray) -> np.ndarray:
        padded = np.zeros((len(normalized), self.config.max_dim), np.float32)
        padded[:, : normalized.shape[1]] = normalized
        return padded

    def _check_dim(self, name: str, dim: int) -> None:
        if dim > self.config.max_dim:
            raise ConfigError(
                f"embodiment {name!r} has {dim}-d actions but the RVQ pads to max_dim={self.config.max_dim}; "
                f"raise tokenizer.max_dim to at least {dim}"
            )

    def _name(self, embodiment: str | None) -> str:
        if embodiment is not None:
            return embodiment
        if len(self.stats) == 1:
            return next(iter(self.stats))
        raise ConfigError(f"pass embodiment= (one of {sorted(self.stats)}) to this multi-embodiment RVQ tokenizer")

    def _stats(self, embodiment: str) -> ActionStats:
        if embodiment not in self.stats:
            raise ConfigError(
                f"the RVQ tokenizer has no statistics for embodiment {embodiment!r}; known: {sorted(self.stats)}. "
                "Fit it on that embodiment's actions (or pass stats=) first"
            )
        return self.stats[embodiment]


@register_tokenizer
class EmbodimentRVQTokenizer(ActionTokenizer):
    """A ``ResidualVQTokenizer`` bound to one embodiment (same ids, same decode rule, shared weights)."""

    type_name = "rvq_embodiment"

    def __init__(self, base: ResidualVQTokenizer, embodiment: str) -> None:
        self.base = base
        self.embodiment = embodiment

    @property
    def vocab_size(self) -> int:
        """Codes per codebook."""
        return self.base.vocab_size

    @property
    def tokens_per_action(self) -> int:
        """One token per codebook."""
        return self.base.tokens_per_action

    def encode(self, actions: Any) -> list[list[int]]:
        """Codes of each action of this embodiment."""
        return self.base.encode(actions, self.embodiment)

    def decode(self, ids: Sequence[Sequence[Any]]) -> np.ndarray:
        """(N, dim) actions of this embodiment (total; see ``ResidualVQTokenizer``)."""
        return self.base.decode(ids, self.embodiment)

    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Every code while positions remain, then nothing."""
        return self.base.allowed_next(prefix)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The shared model's state plus the bound embodiment."""
        config, tensors = self.base.get_state()
        return {"embodiment": self.embodiment, "base": config}, tensors

    @classmethod
    def from_state(
        cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path
    ) -> EmbodimentRVQTokenizer:
        """Rebuild from ``get_state``."""
        return cls(ResidualVQTokenizer.from_state(config["base"], tensors, directory), config["embodiment"])


def _as_mapping(actions: np.ndarray | ActionsByEmbodiment) -> dict[str, np.ndarray]:
    if isinstance(actions, Mapping):
        return {str(name): as_action_array(array) for name, array in actions.items()}
    return {DEFAULT_EMBODIMENT: as_action_array(actions)}


def _lr_factor(step: int, train: RVQTrainConfig) -> float:
    """Linear warmup, then cosine decay to 5% of the peak learning rate."""
    if step < train.warmup_steps:
        return (step + 1) / train.warmup_steps
    progress = (step - train.warmup_steps) / max(1, train.steps - train.warmup_steps)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
