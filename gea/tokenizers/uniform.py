"""Uniform binning (OpenVLA style): each action dimension becomes one token out of ``n_bins``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gea.errors import ConfigError
from gea.tokenizers.base import ActionTokenizer, fixed_length_ids, register_tokenizer, safe_sequences
from gea.tokenizers.normalize import ActionStats, as_action_array


@register_tokenizer
class UniformBinTokenizer(ActionTokenizer):
    """Per-dimension uniform bins over [low, high]: ``dim`` tokens per action, ids ``0 .. n_bins - 1``.

    Decode rule: a missing, out-of-range or non-integer id at a position takes the bin holding the middle
    of that dimension's range; ids beyond ``dim`` are ignored. Decoded values are bin centres, so they
    always lie within [low, high].
    """

    type_name = "uniform_bins"

    def __init__(self, n_bins: int = 256, stats: ActionStats | None = None, quantile: float = 0.0) -> None:
        if n_bins < 2:
            raise ConfigError(f"n_bins must be at least 2, got {n_bins}")
        self.n_bins = n_bins
        self.quantile = quantile
        self.stats = stats

    @property
    def vocab_size(self) -> int:
        """Number of bins."""
        return self.n_bins

    @property
    def tokens_per_action(self) -> int:
        """One token per action dimension."""
        return self._stats().dim

    def fit(self, actions: Any) -> UniformBinTokenizer:
        """Set the per-dimension range from data (min/max, or quantiles when ``quantile > 0``)."""
        self.stats = ActionStats.from_actions(as_action_array(actions), self.quantile)
        return self

    def encode_array(self, actions: Any) -> np.ndarray:
        """(N, dim) int64 bin ids of a batch of actions (values outside the range are clipped)."""
        normalized = self._stats().normalize(actions)
        return np.clip(np.floor((normalized + 1.0) * 0.5 * self.n_bins), 0, self.n_bins - 1).astype(np.int64)

    def decode_array(self, ids: np.ndarray) -> np.ndarray:
        """(N, dim) actions at the centres of the bins ``ids`` (ids are assumed valid)."""
        centres = -1.0 + (np.asarray(ids, np.float32) + 0.5) * 2.0 / self.n_bins
        return self._stats().denormalize(centres)

    def encode(self, actions: Any) -> list[list[int]]:
        """Bin ids of each action."""
        return self.encode_array(actions).tolist()

    def decode(self, ids: Sequence[Sequence[Any]]) -> np.ndarray:
        """(N, dim) actions; see the class docstring for the rule on malformed ids."""
        neutral = np.full(self.tokens_per_action, self.n_bins // 2, np.int64)
        rows = [fixed_length_ids(row, neutral, self.n_bins) for row in safe_sequences(ids)]
        return self.decode_array(np.stack(rows) if rows else np.zeros((0, len(neutral)), np.int64))

    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Every bin while dimensions remain, then nothing."""
        if len(prefix) >= self.tokens_per_action:
            return np.zeros(0, np.int64)
        return np.arange(self.n_bins, dtype=np.int64)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Bin count and range."""
        return {"n_bins": self.n_bins, "quantile": self.quantile, "stats": self._stats().to_dict()}, {}

    @classmethod
    def from_state(
        cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path
    ) -> UniformBinTokenizer:
        """Rebuild from ``get_state``."""
        return cls(config["n_bins"], ActionStats.from_dict(config["stats"]), config["quantile"])

    def _stats(self) -> ActionStats:
        if self.stats is None:
            raise ConfigError("UniformBinTokenizer has no range yet: call fit(actions) or pass stats=ActionStats(...)")
        return self.stats
