"""Training metrics of SFT: loss and action-token accuracy per embodiment, summed over ranks."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gea.train.distributed import all_reduce_sum


class TokenAccuracy:
    """Counts correct and total action tokens per embodiment between two ``summary`` calls.

    ``names`` fixes the order of embodiments so every rank reduces the same vector, even for embodiments
    that a rank did not see since the last summary.
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = sorted(set(names))
        self.index = {name: position for position, name in enumerate(self.names)}
        self.correct = torch.zeros(len(self.names), dtype=torch.float64)
        self.total = torch.zeros(len(self.names), dtype=torch.float64)
        self.loss_sum = 0.0

    def add(self, correct: torch.Tensor, token_rows: torch.Tensor, embodiments: Sequence[str], loss_sum: float) -> None:
        """Record one micro-batch: per-token correctness, each token's row, each row's embodiment, summed loss."""
        row_index = torch.tensor([self.index[name] for name in embodiments], dtype=torch.long)
        per_token = row_index[token_rows.cpu()]
        self.correct.index_add_(0, per_token, correct.detach().cpu().double())
        self.total.index_add_(0, per_token, torch.ones_like(per_token, dtype=torch.float64))
        self.loss_sum += loss_sum

    def summary(self, device: torch.device) -> dict[str, float]:
        """Mean loss per action token, overall and per-embodiment accuracy (all ranks), then reset."""
        packed = torch.cat([self.correct, self.total, torch.tensor([self.loss_sum], dtype=torch.float64)])
        packed = all_reduce_sum(packed.to(device)).cpu()
        count = len(self.names)
        correct, total, loss_sum = packed[:count], packed[count : 2 * count], float(packed[-1])
        tokens = float(total.sum())
        metrics = {"loss": loss_sum / max(tokens, 1.0), "accuracy": float(correct.sum()) / max(tokens, 1.0)}
        for name, right, seen in zip(self.names, correct.tolist(), total.tolist(), strict=True):
            if seen:
                metrics[f"accuracy/{name}"] = right / seen
        self.correct.zero_()
        self.total.zero_()
        self.loss_sum = 0.0
        return metrics
