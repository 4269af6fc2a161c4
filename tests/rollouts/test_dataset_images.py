"""Image storage formats: round trips, decoding a column into a block's rows, and the reader on each format."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gea.errors import ConfigError
from gea.rollouts.dataset import DatasetMeta, DatasetWriter, EpisodeBuilder, WindowDataset, action_document
from gea.rollouts.dataset.images import decode_image, decode_images_into, encode_image
from gea.rollouts.dataset.lerobot_io import export_lerobot, import_lerobot
from gea.rollouts.dataset.scan import iter_episodes
from gea.spec import DiscreteActions

GRID = DiscreteActions(("left", "right", "forward"))


def _frames(count: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("image_format", ["png", "raw"])
def test_lossless_formats_round_trip(image_format: str) -> None:
    frame = _frames(1)[0]
    np.testing.assert_array_equal(decode_image(encode_image(frame, image_format)), frame)


@pytest.mark.parametrize("image_format", ["jpeg", "webp"])
def test_lossy_formats_keep_the_shape(image_format: str) -> None:
    assert decode_image(encode_image(_frames(1, 16)[0], image_format)).shape == (16, 16, 3)


@pytest.mark.parametrize("image_format", ["png", "jpeg", "raw"])
@pytest.mark.parametrize("threads", [None, 2])
def test_a_column_decodes_into_its_rows_like_its_frames(image_format: str, threads: int | None) -> None:
    encoded = [encode_image(frame, image_format) for frame in _frames(70)]
    column = pa.chunked_array([encoded[:20], encoded[20:]], type=pa.binary())
    positions = np.arange(70) * 2 + 1  # every other row, as a block lays frames out between padding rows
    out = np.full((141, 8, 8, 3), 7, np.uint8)
    with ThreadPoolExecutor(threads or 1) as pool:
        decode_images_into(column, out, positions, pool if threads else None, threads or 1)
    np.testing.assert_array_equal(out[positions], np.stack([decode_image(data) for data in encoded]))
    assert (out[::2] == 7).all()  # the rows between are left as they were


def test_slices_of_arrow_arrays_of_raw_frames_decode() -> None:
    frames = _frames(6)
    column = pa.array([encode_image(frame, "raw") for frame in frames], type=pa.binary())
    out = np.zeros((3, 8, 8, 3), np.uint8)
    decode_images_into(column.slice(2, 3), out, np.arange(3))
    np.testing.assert_array_equal(out, frames[2:5])


@pytest.mark.parametrize("image_format", ["png", "raw"])
def test_frames_of_another_shape_are_refused(image_format: str) -> None:
    frames = [_frames(1, 8)[0], _frames(1, 16)[0]]
    column = pa.array([encode_image(frame, image_format) for frame in frames], type=pa.binary())
    with pytest.raises(ValueError, match="must share a shape"):
        decode_images_into(column, np.zeros((2, 8, 8, 3), np.uint8), np.arange(2))
    assert [decode_image(data).shape for data in column.to_pylist()] == [(8, 8, 3), (16, 16, 3)]


def test_raw_rejects_what_is_not_an_rgb_image() -> None:
    with pytest.raises(ConfigError, match="uint8 H x W x 3"):
        decode_image(encode_image(np.zeros((4, 4), np.uint8), "raw"))


def _dataset(root: Path, image_format: str) -> Path:
    writer = DatasetWriter(root, image_format=image_format, shard_max_rows=20, row_group_rows=8)
    writer.add_embodiment("test:grid", {"domain": "game", "action": action_document(GRID)})
    for number in range(5):
        builder = EpisodeBuilder("test:grid", "t", GRID, image_format, seed=number, attempt=number)
        for step in range(4):
            image = np.full((8, 8, 3), 10 * number + step, np.uint8)
            builder.add_step({"image": image, "instruction": "go"}, step % 3, 0.0, False, False, False)
        writer.add_episode(builder.episode)
    writer.close()
    return root


def test_reader_yields_the_same_windows_from_png_and_raw(tmp_path: Path) -> None:
    def windows(image_format: str) -> list[tuple[int, int, list[int]]]:
        reader = WindowDataset(_dataset(tmp_path / image_format, image_format), context=3, loop=False, seed=2)
        return [(w["episode_index"], w["step"], w["images"][:, 0, 0, 0].tolist()) for w in reader]

    png, raw = windows("png"), windows("raw")
    assert png == raw and len(raw) == 20


def test_raw_datasets_cross_lerobot_as_png_and_come_back_raw(tmp_path: Path) -> None:
    source = _dataset(tmp_path / "raw", "raw")
    exported = export_lerobot(source, tmp_path / "lerobot")
    data_file = next((exported / "data").rglob("*.parquet"))
    (first,) = pq.read_table(data_file, columns=["observation.image"]).slice(0, 1).to_pylist()
    assert first["observation.image"]["bytes"].startswith(b"\x89PNG")  # what LeRobot and HF datasets decode
    back = import_lerobot(exported, tmp_path / "back", image_format="raw")
    reread = [table.to_pylist() for table in iter_episodes(back)]
    assert reread == [table.to_pylist() for table in iter_episodes(DatasetMeta.load(source))]
