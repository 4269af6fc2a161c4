"""Image helpers shared by adapters."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxWx3 uint8 image to ``(height, width)``; returns the input when it already fits."""
    height, width = size
    if image.shape[0] == height and image.shape[1] == width:
        return np.ascontiguousarray(image, dtype=np.uint8)
    resized = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return np.asarray(resized, dtype=np.uint8)
