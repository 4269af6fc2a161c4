"""Constrained decoding: boolean vocabulary masks from each embodiment's prefix-dependent valid ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

AllowedNext = Callable[[Sequence[int]], np.ndarray]


class ConstraintMasks:
    """Builds (batch, vocab) masks of the ids each row may emit next, caching one per (env, prefix)."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self._cache: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}
        self._rows: dict[tuple[str, tuple[int, ...]], torch.Tensor] = {}

    def allowed(self, env_id: str, allowed_next: AllowedNext, prefix: Sequence[int]) -> torch.Tensor:
        """Valid next ids (int64, CPU) for ``prefix`` of an action of ``env_id``."""
        key = (env_id, tuple(prefix))
        ids = self._cache.get(key)
        if ids is None:
            ids = torch.as_tensor(np.asarray(allowed_next(list(prefix)), dtype=np.int64))
            if ids.numel() and (int(ids.max()) >= self.vocab_size or int(ids.min()) < 0):
                raise ValueError(
                    f"{env_id}: the action tokenizer allows id {int(ids.max())} outside the model vocabulary "
                    f"of {self.vocab_size}; grow the model vocabulary (ensure_vocab) or move the reserved range"
                )
            self._cache[key] = ids
        return ids

    def row(
        self, env_id: str, allowed_next: AllowedNext, prefix: Sequence[int], complete_id: int | None = None
    ) -> torch.Tensor:
        """(vocab,) bool mask of the valid next ids (cached); a complete action allows ``complete_id`` alone when
        given (nothing otherwise)."""
        ids = self.allowed(env_id, allowed_next, prefix)
        if complete_id is not None and not ids.numel():
            return self._complete_row(complete_id)
        key = (env_id, tuple(prefix))
        mask = self._rows.get(key)
        if mask is None:
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            mask[ids] = True
            self._rows[key] = mask
        return mask

    def _complete_row(self, complete_id: int) -> torch.Tensor:
        key = ("", (-1 - complete_id,))  # no action prefix has a negative id
        mask = self._rows.get(key)
        if mask is None:
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            mask[complete_id] = True
            self._rows[key] = mask
        return mask

    def masks(
        self,
        env_ids: Sequence[str],
        rules: Sequence[AllowedNext],
        prefixes: Sequence[Sequence[int]],
        device: torch.device,
        complete_id: int | None = None,
    ) -> torch.Tensor:
        """(batch, vocab) bool: True where a row may emit that id. A row whose action is complete is all False, or
        allows ``complete_id`` alone when given (so its log-softmax is 0 there instead of NaN)."""
        rows = [self.row(*item, complete_id) for item in zip(env_ids, rules, prefixes, strict=True)]
        if not rows:
            return torch.zeros(0, self.vocab_size, dtype=torch.bool, device=device)
        return torch.stack(rows).to(device)


def masked_log_probs(logits: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probabilities over the allowed ids only (rows without any allowed id give all -inf)."""
    scaled = (logits / temperature).masked_fill(~mask, float("-inf"))
    return torch.log_softmax(scaled, dim=-1)


def entropy_of(log_probs: torch.Tensor) -> torch.Tensor:
    """Entropy of each row's distribution given as log-probabilities (-inf entries contribute 0)."""
    probs = log_probs.exp()
    return -(probs * log_probs.masked_fill(probs == 0, 0.0)).sum(-1)


class ConstraintLogitsProcessor:
    """A Hugging Face ``LogitsProcessor`` applying the same masks inside ``model.generate``.

    Rows whose action is complete may only emit ``end_id`` (set it as ``eos_token_id`` so generation stops).
    ``prompt_length`` is the number of leading ids of ``input_ids`` that are prompt (0 with ``inputs_embeds``).
    """

    def __init__(
        self,
        masks: ConstraintMasks,
        env_ids: Sequence[str],
        rules: Sequence[AllowedNext],
        end_id: int,
        prompt_length: int = 0,
        temperature: float = 1.0,
    ) -> None:
        self.masks, self.env_ids, self.rules = masks, list(env_ids), list(rules)
        self.end_id, self.prompt_length, self.temperature = end_id, prompt_length, temperature

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Scores with every id that is not allowed next set to -inf."""
        prefixes = [row[self.prompt_length :].tolist() for row in input_ids]
        mask = self.masks.masks(self.env_ids, self.rules, prefixes, scores.device)
        complete = ~mask.any(-1)
        mask[complete, self.end_id] = True
        return (scores.float() / self.temperature).masked_fill(~mask, float("-inf"))
