"""Per-embodiment action statistics, computed by streaming the action columns of every shard.

Continuous: count, mean, std, min, max and quantiles per dimension (quantiles from a fixed-size
reservoir sample, so memory stays bounded). Discrete and text: how often each action occurs.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from gea.rollouts.dataset.integrity import open_shard, read_row_group
from gea.rollouts.dataset.meta import DatasetMeta

QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
RESERVOIR_SIZE = 20_000


class ContinuousStats:
    """Streaming moments, extremes and a reservoir sample of a continuous action stream."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        self.count = 0
        self.total = np.zeros(dim, np.float64)
        self.total_squares = np.zeros(dim, np.float64)
        self.low = np.full(dim, np.inf)
        self.high = np.full(dim, -np.inf)
        self.reservoir = np.zeros((0, dim), np.float64)
        self._rng = np.random.default_rng(seed)

    def update(self, actions: np.ndarray) -> None:
        """Add a batch of actions of shape ``(n, dim)``."""
        actions = np.asarray(actions, np.float64)
        self.total += actions.sum(axis=0)
        self.total_squares += np.square(actions).sum(axis=0)
        self.low = np.minimum(self.low, actions.min(axis=0))
        self.high = np.maximum(self.high, actions.max(axis=0))
        room = RESERVOIR_SIZE - len(self.reservoir)
        if room > 0:
            self.reservoir = np.concatenate([self.reservoir, actions[:room]])
        # Reservoir sampling (algorithm R) for the rest of the batch.
        positions = self.count + np.arange(max(room, 0), len(actions))
        slots = self._rng.integers(0, positions + 1)
        keep = slots < RESERVOIR_SIZE
        self.reservoir[slots[keep]] = actions[max(room, 0) :][keep]
        self.count += len(actions)

    def document(self) -> dict[str, Any]:
        """JSON statistics: count, mean, std, min, max and ``q01``...``q99`` per dimension."""
        mean = self.total / max(self.count, 1)
        std = np.sqrt(np.maximum(self.total_squares / max(self.count, 1) - np.square(mean), 0.0))
        document: dict[str, Any] = {
            "kind": "continuous",
            "count": self.count,
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": self.low.tolist(),
            "max": self.high.tolist(),
        }
        for q in QUANTILES:
            document[f"q{round(q * 100):02d}"] = np.quantile(self.reservoir, q, axis=0).tolist()
        return document


def compute_stats(meta: DatasetMeta) -> dict[str, dict[str, Any]]:
    """Action statistics of every embodiment in the dataset, reading one row group at a time."""
    continuous: dict[str, ContinuousStats] = {}
    counts: dict[str, Counter[str]] = {}
    columns = ["embodiment", "action", "action_text"]
    for shard in meta.shard_files():
        parquet = open_shard(meta.root / shard, meta.root)
        for group in range(parquet.num_row_groups):
            table = read_row_group(parquet, meta.root / shard, meta.root, group, columns)
            embodiments = np.asarray(table["embodiment"].to_pylist())
            for embodiment in np.unique(embodiments):
                rows = table.filter(embodiments == embodiment)
                kind = meta.embodiments[str(embodiment)]["action"]["kind"]
                if kind == "continuous":
                    actions = np.asarray(rows["action"].to_pylist(), np.float64)
                    stats = continuous.setdefault(str(embodiment), ContinuousStats(actions.shape[1]))
                    stats.update(actions)
                else:
                    texts = rows["action_text"].to_pylist()
                    # UI commands are counted by verb ("click", "type"), discrete actions by name.
                    labels = texts if kind == "discrete" else [str(text).split(" ", 1)[0] for text in texts]
                    counts.setdefault(str(embodiment), Counter()).update(labels)
    result: dict[str, dict[str, Any]] = {name: stats.document() for name, stats in continuous.items()}
    for name, counter in counts.items():
        kind = meta.embodiments[name]["action"]["kind"]
        result[name] = {"kind": kind, "count": sum(counter.values()), "frequency": dict(counter.most_common())}
    return dict(sorted(result.items()))
