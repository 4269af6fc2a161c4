"""Per-image cache of a frozen vision tower's features, keyed by the image's bytes.

A frozen tower maps the same image to the same features, so each distinct frame is encoded once: in SFT every
dataset frame after its first visit, in acting every frame of the history, in PPO every stored prompt's frames.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch


def image_key(image: np.ndarray) -> bytes:
    """A 16-byte digest of an image's shape and pixels."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(image.shape, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(image).data)
    return digest.digest()


class FeatureCache:
    """Least-recently-used map from image digests to feature tensors, at most ``max_bytes`` in total; safe to use from
    several threads (SFT fills it from the thread that prepares the next batch)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> dict[str, object]:
        """Everything but the lock (a copied policy, e.g. PPO's start policy, gets a lock of its own)."""
        return {key: value for key, value in self.__dict__.items() if key != "_lock"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every entry (call when the tower's weights change)."""
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def get(self, keys: Sequence[bytes]) -> list[torch.Tensor | None]:
        """The cached features of each key, None where absent (counts hits and misses)."""
        found: list[torch.Tensor | None] = []
        with self._lock:
            for key in keys:
                features = self._entries.get(key)
                if features is not None:
                    self._entries.move_to_end(key)
                found.append(features)
            hits = sum(features is not None for features in found)
            self.hits += hits
            self.misses += len(found) - hits
        return found

    def put(self, keys: Sequence[bytes], features: torch.Tensor) -> None:
        """Store ``features[i]`` under ``keys[i]`` (detached), dropping the least recently used beyond the budget."""
        rows = []
        for row in features.detach():
            with torch.inference_mode(False):
                rows.append(row.clone())  # a normal tensor even when computed under inference mode (autograd-usable)
        with self._lock:
            for key, row in zip(keys, rows, strict=True):
                if key not in self._entries:
                    self._entries[key] = row
                    self.bytes += row.numel() * row.element_size()
            while self.bytes > self.max_bytes and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self.bytes -= dropped.numel() * dropped.element_size()
