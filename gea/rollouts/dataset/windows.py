"""Cut training windows (the last c steps of an episode) out of a block of decoded rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from gea.rollouts.dataset.images import decode_images as decode_image_column

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
        encoded = table["image"]
        self.has_images = len(encoded) > 0 and encoded[0].is_valid
        if self.has_images and decode_images:
            self.images: np.ndarray | list[Any] = decode_image_column(encoded)
        else:
            self.images = encoded.to_pylist()
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
        pad = context - (row + 1 - first)
        span = slice(first, row + 1)
        sample: dict[str, Any] = {
            "embodiment": self.embodiment[row],
            "task": self.task[row],
            "instruction": self.instruction[row],
            "episode_index": int(self.episode_index[row]),
            "step": int(self.step[row]),
            "mask": np.arange(context) >= pad,
            "action_text": [""] * pad + [text or "" for text in self.action_text[span]],
        }
        sample["images"] = self._images(span, pad)
        sample["proprio"] = None if self.proprio is None else _pad(self.proprio[span], pad, 0.0)
        if self.action_kind == "continuous":
            sample["actions"] = _pad(self.actions[span], pad, 0.0)
        elif self.action_kind == "discrete":
            sample["actions"] = _pad(self.actions[span], pad, -1)
        else:
            sample["actions"] = [""] * pad + self.actions[span]
        sample["target_action"] = sample["actions"][-1]
        return sample

    def _images(self, span: slice, pad: int) -> Any:
        if not self.has_images:
            return None
        if isinstance(self.images, np.ndarray):
            return _pad(self.images[span], pad, 0)
        return [None] * pad + self.images[span]


def _pad(values: np.ndarray, pad: int, fill: float) -> np.ndarray:
    """A new array: ``pad`` entries of ``fill`` along the first axis, then ``values`` (a view into the block)."""
    padded = np.empty((pad + len(values), *values.shape[1:]), dtype=values.dtype)
    padded[:pad] = fill
    padded[pad:] = values
    return padded
