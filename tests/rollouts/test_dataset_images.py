"""Image storage formats: round trips, the raw format's one-view decoding of a column, and the reader on each format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gea.errors import ConfigError
from gea.rollouts.dataset import DatasetMeta, DatasetWriter, EpisodeBuilder, WindowDataset, action_document
from gea.rollouts.dataset.images import decode_image, decode_images, encode_image
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
def test_a_column_decodes_like_its_frames(image_format: str) -> None:
    encoded = [encode_image(frame, image_format) for frame in _frames(5)]
    column = pa.chunked_array([encoded[:2], encoded[2:]], type=pa.binary())
    np.testing.assert_array_equal(decode_images(column), np.stack([decode_image(data) for data in encoded]))


def test_raw_column_is_a_view_and_slices_of_arrow_arrays_decode() -> None:
    frames = _frames(6)
    column = pa.array([encode_image(frame, "raw") for frame in frames], type=pa.binary())
    decoded = decode_images(column)
    assert not decoded.flags.writeable  # read straight from the column's buffer
    np.testing.assert_array_equal(decode_images(column.slice(2, 3)), frames[2:5])


def test_raw_frames_of_different_shapes_decode_one_by_one() -> None:
    frames = [_frames(1, 8)[0], _frames(1, 16)[0]]
    column = pa.array([encode_image(frame, "raw") for frame in frames], type=pa.binary())
    with pytest.raises(ValueError):  # frames of two shapes cannot form one array
        decode_images(column)
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
