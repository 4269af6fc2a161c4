"""Observation images in shared memory: a vector-env worker writes them, the parent reads them, no pickling.

One ``ImageSlots`` block holds one uint8 slot per environment of a worker (slot shapes may differ between
environments). The parent creates the block and owns it: it unlinks it on ``close()``, also when the worker
crashed, so no ``/dev/shm`` segment outlives the vector env. The worker attaches to it by name and only
closes its mapping. A restarted worker attaches to the same block.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from multiprocessing.shared_memory import SharedMemory

import numpy as np

SlotShape = tuple[int, ...] | None
"""The shape of an env's image slot, or ``None`` for an env whose observations carry no shareable image."""


def image_slot_shape(observation_space: object) -> SlotShape:
    """The shape of the uint8 ``image`` entry of a Dict observation space, or ``None`` if it has none."""
    spaces = getattr(observation_space, "spaces", None)
    image = spaces.get("image") if isinstance(spaces, dict) else None
    shape = getattr(image, "shape", None)
    if shape is None or getattr(image, "dtype", None) != np.uint8:
        return None
    return tuple(int(size) for size in shape)


class ImageSlots:
    """One shared-memory block with an image slot per env; ``name=None`` creates (and owns) a new block.

    Args:
        shapes: the slot shape of each env (``None``: no slot for that env).
        name: the name of an existing block to attach to (a worker), or ``None`` to create one (the parent).
    """

    def __init__(self, shapes: Sequence[SlotShape], name: str | None = None) -> None:
        self.shapes = list(shapes)
        sizes = [math.prod(shape) if shape else 0 for shape in self.shapes]
        self.owner = name is None
        self._memory = SharedMemory(name=name, create=self.owner, size=max(1, sum(sizes)) if self.owner else 0)
        self._slots: list[np.ndarray | None] = []
        self._closed = False
        offset = 0
        for shape, size in zip(self.shapes, sizes, strict=True):
            slot = np.ndarray(shape, np.uint8, self._memory.buf, offset) if shape else None
            self._slots.append(slot)
            offset += size

    @property
    def name(self) -> str:
        """The block's name, for a worker to attach to."""
        return self._memory.name

    def has_slot(self, index: int) -> bool:
        """Whether env ``index`` has a slot."""
        return self._slots[index] is not None

    def put(self, index: int, image: np.ndarray) -> None:
        """Write env ``index``'s image into its slot; its shape must be the slot's."""
        slot = self._slots[index]
        if slot is None or image.shape != slot.shape:
            raise ValueError(
                f"observation image of shape {getattr(image, 'shape', None)} does not fit the shape "
                f"{self.shapes[index]} of the env's observation space; make the env return images of its declared shape"
            )
        slot[...] = image

    def get(self, index: int) -> np.ndarray:
        """A copy of env ``index``'s image (the slot itself is overwritten by the next step)."""
        slot = self._slots[index]
        if slot is None:
            raise ValueError(f"env {index} has no image slot")
        return slot.copy()

    def close(self) -> None:
        """Drop the mapping; the owner also removes the block from the system."""
        if self._closed:
            return
        self._closed = True
        self._slots = []  # views into the buffer must go before the mapping can close
        self._memory.close()
        if self.owner:
            self._memory.unlink()
