"""Per-embodiment action statistics: map actions to [-1, 1] per dimension and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gea.errors import InvalidActionError

_MIN_RANGE = 1e-6


@dataclass(frozen=True)
class ActionStats:
    """Per-dimension bounds ``low``/``high`` of one embodiment's actions; ``low`` maps to -1, ``high`` to 1."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_actions(cls, actions: np.ndarray, quantile: float = 0.0) -> ActionStats:
        """Bounds from data: the ``quantile`` and ``1 - quantile`` values per dimension (0 = min/max)."""
        array = as_action_array(actions)
        if len(array) == 0:
            raise InvalidActionError("cannot compute action statistics from an empty array of actions")
        low = np.quantile(array, quantile, axis=0) if quantile > 0 else array.min(axis=0)
        high = np.quantile(array, 1 - quantile, axis=0) if quantile > 0 else array.max(axis=0)
        return cls(low.astype(np.float32), high.astype(np.float32))

    @classmethod
    def from_bounds(cls, low: Any, high: Any) -> ActionStats:
        """Bounds given explicitly (e.g. an EmbodimentSpec's ``low``/``high``)."""
        return cls(np.asarray(low, np.float32), np.asarray(high, np.float32))

    @property
    def dim(self) -> int:
        """Action dimension."""
        return len(self.low)

    def normalize(self, actions: np.ndarray) -> np.ndarray:
        """Actions scaled to [-1, 1] per dimension (clipped); a constant dimension maps to 0."""
        span = np.maximum(self.high - self.low, _MIN_RANGE)
        scaled = 2.0 * (as_action_array(actions, self.dim) - self.low) / span - 1.0
        scaled = np.where(self.high - self.low < _MIN_RANGE, 0.0, scaled)
        return np.clip(scaled, -1.0, 1.0).astype(np.float32)

    def denormalize(self, normalized: np.ndarray) -> np.ndarray:
        """Inverse of ``normalize``; the result always lies within ``[low, high]``."""
        clipped = np.clip(np.nan_to_num(np.asarray(normalized, np.float32)), -1.0, 1.0)
        return (self.low + (clipped + 1.0) * 0.5 * (self.high - self.low)).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-able form."""
        return {"low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> ActionStats:
        """Inverse of ``to_dict``."""
        return cls.from_bounds(data["low"], data["high"])


def as_action_array(actions: Any, dim: int | None = None) -> np.ndarray:
    """A float32 (N, dim) array of finite actions, or ``InvalidActionError`` naming what was wrong."""
    array = np.asarray(actions, dtype=np.float32)
    if array.ndim == 1 and dim is not None and array.shape[0] == dim:
        array = array[None]
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, dim)"
        raise InvalidActionError(f"expected a batch of continuous actions of shape {want}; got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InvalidActionError("actions contain NaN or inf; drop or repair those rows before tokenizing")
    return array
