"""Encode observation images to bytes for the ``image`` column, and decode them back.

Formats: ``png`` (lossless, the default), ``jpeg`` and ``webp`` (lossy, smaller), and ``raw``: the uint8 array
in NumPy's ``.npy`` format (lossless, about 12 KiB per 64 px frame, no codec): a column of same-shaped raw frames
is read as one array view of its buffer, with no per-frame decoding.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import pyarrow as pa
from PIL import Image

from gea.errors import ConfigError

IMAGE_FORMATS: dict[str, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "raw": "NPY"}
RAW_MAGIC = b"\x93NUMPY"


def check_image_format(image_format: str) -> str:
    """Return ``image_format`` if supported, else raise ``ConfigError`` listing the choices."""
    if image_format not in IMAGE_FORMATS:
        raise ConfigError(f"image_format must be one of {sorted(IMAGE_FORMATS)}, got {image_format!r}")
    return image_format


def encode_image(image: np.ndarray, image_format: str = "png", quality: int = 95) -> bytes:
    """Encode an HxWx3 uint8 image; PNG and raw are lossless, JPEG and WebP use ``quality``."""
    buffer = io.BytesIO()
    array = np.ascontiguousarray(image, dtype=np.uint8)
    if image_format == "raw":
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    picture = Image.fromarray(array)
    if image_format == "png":
        picture.save(buffer, format="PNG", compress_level=1)
    else:
        picture.save(buffer, format=IMAGE_FORMATS[check_image_format(image_format)], quality=quality)
    return buffer.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """Decode bytes written by ``encode_image`` (any format) into an HxWx3 uint8 array."""
    if data[: len(RAW_MAGIC)] == RAW_MAGIC:
        return _checked_raw(np.load(io.BytesIO(data), allow_pickle=False))
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture if picture.mode == "RGB" else picture.convert("RGB"), dtype=np.uint8)


def decode_images_into(
    column: pa.Array | pa.ChunkedArray,
    out: np.ndarray,
    positions: np.ndarray,
    threads: Executor | None = None,
    parts: int = 1,
) -> None:
    """Decode a column of encoded images (no nulls) into ``out[positions]`` (row i of the column into
    ``out[positions[i]]``), each frame decoded once.

    Raw frames are copied straight from each chunk's buffer; other formats are decoded frame by frame, in
    ``parts`` runs on ``threads`` when given (Pillow's codecs release the GIL while they decode). A frame whose
    shape differs from ``out``'s raises ``ValueError``.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    pending: list[tuple[list[bytes], np.ndarray]] = []
    start = 0
    for chunk in chunks:
        where = positions[start : start + len(chunk)]
        start += len(chunk)
        raw = _raw_frames(chunk)
        if raw is not None:
            _check_frame_shape(raw.shape[1:], out.shape[1:])
            out[where] = raw
        elif len(chunk):
            pending.append((chunk.to_pylist(), where))
    encoded = [data for values, _ in pending for data in values]
    targets = np.concatenate([where for _, where in pending]) if pending else positions[:0]
    parts = min(parts, len(encoded) // 32 + 1)  # a few dozen frames per run, or threads cost more than they save
    if parts <= 1 or threads is None:
        _decode_into(encoded, out, targets)
        return
    bounds = np.linspace(0, len(encoded), parts + 1).astype(int)
    futures = [threads.submit(_decode_into, encoded[a:b], out, targets[a:b]) for a, b in itertools.pairwise(bounds)]
    for future in futures:
        future.result()


def _decode_into(encoded: Sequence[bytes], out: np.ndarray, targets: np.ndarray) -> None:
    for data, target in zip(encoded, targets, strict=True):
        frame = decode_image(data)
        _check_frame_shape(frame.shape, out.shape[1:])
        out[target] = frame


def _check_frame_shape(shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    if tuple(shape) != tuple(expected):
        raise ValueError(
            f"frames of one embodiment must share a shape to be cut into windows: found {tuple(shape)} and "
            f"{tuple(expected)} (read with decode_images=False to get each frame's bytes)"
        )


def _raw_frames(array: pa.Array) -> np.ndarray | None:
    """The frames of a binary column whose rows are same-shaped raw ``.npy`` images, or None."""
    if len(array) == 0 or array.null_count or not pa.types.is_binary(array.type):
        return None
    first = array[0].as_py()
    if first[: len(RAW_MAGIC)] != RAW_MAGIC:
        return None
    stream = io.BytesIO(first)
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(stream)
    header = stream.tell()
    if fortran_order or dtype != np.uint8:
        return None
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[array.offset : array.offset + len(array) + 1]
    row = len(first)
    if not np.all(np.diff(offsets) == row):
        return None  # frames of different shapes: decode one by one
    rows = np.frombuffer(data_buffer, np.uint8)[offsets[0] : offsets[-1]].reshape(len(array), row)
    if not np.array_equal(rows[:, :header], np.broadcast_to(rows[0, :header], (len(array), header))):
        return None
    frames = rows[:, header:].reshape(len(array), *shape)
    frames.flags.writeable = False  # a view of the column's memory: never written through
    return _checked_raw(frames)


def _checked_raw(frames: np.ndarray) -> np.ndarray:
    if frames.dtype != np.uint8 or frames.shape[-1] != 3:
        raise ConfigError(f"a raw image must be uint8 H x W x 3; got {frames.dtype} of shape {frames.shape}")
    return frames
