"""Cut training windows (the last c steps of an episode) out of a block of decoded rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from gea.rollouts.dataset.images import decode_image

WINDOW_COLUMNS: tuple[str, ...] = (
    "episode_index",
    "step",
    "embodiment",
    "task",
    "instruction",
    "image",
    "proprio",
    "action",
    "action_index",
    "action_text",
)


class Block:
    """Rows of whole episodes held in memory (images decoded once), from which windows are cut."""

    def __init__(self, table: pa.Table, action_kind: str, decode_images: bool = True) -> None:
        self.action_kind = action_kind
        self.episode_index = table["episode_index"].to_numpy()
        self.step = table["step"].to_numpy()
        self.embodiment = table["embodiment"].to_pylist()
        self.task = table["task"].to_pylist()
        self.instruction = table["instruction"].to_pylist()
        encoded = table["image"].to_pylist()
        self.has_images = bool(encoded) and encoded[0] is not None
        if self.has_images and decode_images:
            self.images: np.ndarray | list[Any] = np.stack([decode_image(data) for data in encoded])
        else:
            self.images = encoded
        proprio = table["proprio"].to_pylist()
        self.proprio = None if not proprio or proprio[0] is None else np.asarray(proprio, np.float32)
        if action_kind == "continuous":
            self.actions: Any = np.asarray(table["action"].to_pylist(), np.float32)
        elif action_kind == "discrete":
            self.actions = table["action_index"].to_numpy().astype(np.int64)
        else:
            self.actions = table["action_text"].to_pylist()
        self.action_text = table["action_text"].to_pylist()
        # First row of each row's episode: rows of one episode are contiguous and ordered by step.
        self.episode_start = np.arange(len(self.step)) - self.step.astype(np.int64)

    def __len__(self) -> int:
        return len(self.step)

    def window(self, row: int, context: int) -> dict[str, Any]:
        """The window ending at ``row``: ``context`` steps, padded (``mask`` False) before the episode start."""
        first = max(int(self.episode_start[row]), row - context + 1)
        rows = np.arange(first, row + 1)
        pad = context - len(rows)
        mask = np.concatenate([np.zeros(pad, bool), np.ones(len(rows), bool)])
        sample: dict[str, Any] = {
            "embodiment": self.embodiment[row],
            "task": self.task[row],
            "instruction": self.instruction[row],
            "episode_index": int(self.episode_index[row]),
            "step": int(self.step[row]),
            "mask": mask,
            "action_text": [""] * pad + [self.action_text[i] or "" for i in rows],
        }
        sample["images"] = self._images(rows, pad)
        sample["proprio"] = None if self.proprio is None else _pad(self.proprio[rows], pad, 0.0)
        if self.action_kind == "continuous":
            sample["actions"] = _pad(self.actions[rows], pad, 0.0)
        elif self.action_kind == "discrete":
            sample["actions"] = _pad(self.actions[rows], pad, -1)
        else:
            sample["actions"] = [""] * pad + [self.actions[i] for i in rows]
        sample["target_action"] = sample["actions"][-1]
        return sample

    def _images(self, rows: np.ndarray, pad: int) -> Any:
        if not self.has_images:
            return None
        if isinstance(self.images, np.ndarray):
            return _pad(self.images[rows], pad, 0)
        return [None] * pad + [self.images[i] for i in rows]


def _pad(values: np.ndarray, pad: int, fill: float) -> np.ndarray:
    """Prepend ``pad`` entries of ``fill`` along the first axis."""
    if pad == 0:
        return values
    padding = np.full((pad, *values.shape[1:]), fill, dtype=values.dtype)
    return np.concatenate([padding, values])
