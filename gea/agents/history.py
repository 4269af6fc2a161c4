"""Per-env observation history: the last c images (with cached visual features) and the actions taken."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class HistoryEntry:
    """One observation of the context window; ``features`` is filled lazily and dropped when weights change."""

    image: np.ndarray
    features: torch.Tensor | None = None
    action: list[int] | None = None


@dataclass
class EnvHistory:
    """The context window of one env slot."""

    entries: deque[HistoryEntry] = field(default_factory=deque)
    env_id: str | None = None


class ObservationHistory:
    """The last ``context`` observations and actions of each env slot, cleared per slot by a done mask."""

    def __init__(self, context: int) -> None:
        self.context = context
        self.slots: list[EnvHistory] = []

    def _slot(self, index: int) -> EnvHistory:
        while len(self.slots) <= index:
            self.slots.append(EnvHistory(deque(maxlen=self.context)))
        return self.slots[index]

    def push(self, index: int, env_id: str, image: np.ndarray) -> list[HistoryEntry]:
        """Add the newest observation of slot ``index``; a slot that changes env starts over. Returns the window."""
        slot = self._slot(index)
        if slot.env_id != env_id:
            slot.entries.clear()
            slot.env_id = env_id
        if slot.entries and slot.entries[-1].action is None:
            slot.entries.pop()  # an observation that was never acted on is replaced, not kept
        slot.entries.append(HistoryEntry(np.ascontiguousarray(image, dtype=np.uint8)))
        return list(slot.entries)

    def record_action(self, index: int, ids: Sequence[int]) -> None:
        """Store the action tokens taken after the newest observation of slot ``index``."""
        self._slot(index).entries[-1].action = list(ids)

    def reset(self, done: Sequence[bool] | np.ndarray | torch.Tensor | None = None) -> None:
        """Clear the slots whose ``done`` flag is set (all slots when ``done`` is None)."""
        if done is None:
            self.slots.clear()
            return
        flags = np.asarray(done.cpu() if isinstance(done, torch.Tensor) else done, dtype=bool).reshape(-1)
        for index in np.flatnonzero(flags):
            if index < len(self.slots):
                self.slots[index].entries.clear()

    def drop_features(self) -> None:
        """Forget cached visual features (call after the model's weights change)."""
        for slot in self.slots:
            for entry in slot.entries:
                entry.features = None
