"""Encode observation images to bytes for the ``image`` column, and decode them back."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from gea.errors import ConfigError

IMAGE_FORMATS: dict[str, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def check_image_format(image_format: str) -> str:
    """Return ``image_format`` if supported, else raise ``ConfigError`` listing the choices."""
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(f"image_format must be one of {sorted(IMAGE_FORMATS)}, got {image_format!r}")
    return image_format


def encode_image(image: np.ndarray, image_format: str = "png", quality: int = 95) -> bytes:
    """Encode an HxWx3 uint8 image; PNG is lossless, JPEG and WebP use ``quality``."""
    buffer = io.BytesIO()
    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if image_format == "png":
        picture.save(buffer, format="PNG", compress_level=1)
    else:
        picture.save(buffer, format=IMAGE_FORMATS[check_image_format(image_format)], quality=quality)
    return buffer.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Decode bytes written by ``encode_image`` into an HxWx3 uint8 array."""
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture if picture.mode == "RGB" else picture.convert("RGB"), dtype=np.uint8)
