"""Cut training windows (the last c steps of an episode) out of a block of decoded rows."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pyarrow as pa

from gea.rollouts.dataset.images import decode_image, decode_images_into

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
    """Rows of whole episodes held in memory, from which windows are cut.

    Every column is laid out with ``context - 1`` padding rows before each episode (black frames, zero proprio,
    padding actions, ``mask`` False), so the window ending at any row is one contiguous slice of each column:
    cutting a window costs a few slice copies, whatever its padding. Images are decoded once per frame, straight
    into that layout (raw frames: one copy out of Parquet's buffers), however many windows show the frame.
    """

    def __init__(
        self,
        tables: Sequence[pa.Table],
        action_kind: str,
        context: int,
        decode_images: bool = True,
        threads: Executor | None = None,
        parts: int = 1,
    ) -> None:
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        self.context = context
        self.episode_index = table["episode_index"].to_numpy()
        self.step = table["step"].to_numpy()
        self.embodiment = table["embodiment"].to_pylist()
        self.task = table["task"].to_pylist()
        self.instruction = table["instruction"].to_pylist()
        # Rows of one episode are contiguous and ordered by step: each step 0 opens an episode and its padding.
        episodes = np.cumsum(self.step == 0)
        self.end = np.arange(len(self.step)) + (context - 1) * episodes  # where each row sits in the padded layout
        self._rows = len(self.step) + (context - 1) * (int(episodes[-1]) if len(episodes) else 0)
        self.mask = self._padded(np.ones(len(self.step), bool), False)
        encoded = table["image"]
        has_images = len(encoded) > 0 and encoded[0].is_valid
        self.images: np.ndarray | None = None
        if has_images and decode_images:
            shape = decode_image(encoded[0].as_py()).shape  # every frame of the block must have it
            self.images = np.zeros((self._rows, *shape), np.uint8)
            decode_images_into(encoded, self.images, self.end, threads, parts)
        elif has_images:
            self.images = self._padded(_objects(encoded.to_pylist()), None)
        proprio = table["proprio"]
        self.proprio = None
        if len(proprio) and proprio[0].is_valid:
            self.proprio = self._padded(np.asarray(proprio.to_pylist(), np.float32), 0.0)
        if action_kind == "continuous":
            self.actions = self._padded(np.asarray(table["action"].to_pylist(), np.float32), 0.0)
        elif action_kind == "discrete":
            self.actions = self._padded(table["action_index"].to_numpy().astype(np.int64), -1)
        else:
            self.actions = self._padded(_objects(table["action_text"].to_pylist()), "")
        self.action_text = self._padded(_objects([text or "" for text in table["action_text"].to_pylist()]), "")

    def __len__(self) -> int:
        return len(self.step)

    def _padded(self, values: np.ndarray, fill: Any) -> np.ndarray:
        """``values`` (one entry per row) in the padded layout, ``fill`` in the padding rows."""
        padded = np.full((self._rows, *values.shape[1:]), fill, values.dtype)
        padded[self.end] = values
        return padded

    def window(self, row: int) -> dict[str, Any]:
        """The window ending at ``row``: ``context`` steps, padded (``mask`` False) before the episode start."""
        end = int(self.end[row])
        span = slice(end + 1 - self.context, end + 1)
        sample: dict[str, Any] = {
            "embodiment": self.embodiment[row],
            "task": self.task[row],
            "instruction": self.instruction[row],
            "episode_index": int(self.episode_index[row]),
            "step": int(self.step[row]),
            "mask": self.mask[span].copy(),
            "action_text": self.action_text[span].tolist(),
        }
        sample["images"] = None if self.images is None else _cut(self.images, span)
        sample["proprio"] = None if self.proprio is None else self.proprio[span].copy()
        sample["actions"] = _cut(self.actions, span)
        sample["target_action"] = sample["actions"][-1]
        return sample


def _cut(values: np.ndarray, span: slice) -> Any:
    """A window's own copy of ``values[span]``: an array, or a list for objects (text, encoded images)."""
    return values[span].tolist() if values.dtype == object else values[span].copy()


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-D object array of ``values`` (strings, bytes or None), never split into a 2-D array."""
    array = np.empty(len(values), object)
    array[:] = values
    return array


def decode_window(sample: dict[str, Any]) -> dict[str, Any]:
    """A window read with ``decode_images=False``, its images decoded: the same sample ``decode_images=True``
    gives (padding before the episode start as black frames). For readers that use few of a block's windows."""
    encoded = sample["images"]
    if encoded is None:
        return sample
    frames = [decode_image(data) for data in encoded if data is not None]
    images = np.zeros((len(encoded), *frames[0].shape), np.uint8)
    images[len(encoded) - len(frames) :] = np.stack(frames)
    return {**sample, "images": images}
