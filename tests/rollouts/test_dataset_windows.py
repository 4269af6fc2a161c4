"""Every window the reader cuts equals the one built naively from the episode's rows, whatever the image format,
context, decoding threads and episode lengths; a damaged raw shard still stops the reader with a clear error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from gea.errors import ConfigError, DatasetError
from gea.rollouts.dataset import (
    ROW_SCHEMA,
    DatasetMeta,
    DatasetWriter,
    EpisodeBuilder,
    WindowDataset,
    action_document,
    decode_image,
    iter_episodes,
)
from gea.spec import ContinuousActions, DiscreteActions, TextActions

SPECS = {
    "test:arm": ContinuousActions(2, (-1.0, -1.0), (1.0, 1.0)),
    "test:grid": DiscreteActions(("left", "right", "forward")),
    "test:web": TextActions(("key K",), keys=("ENTER", "TAB")),
}
LENGTHS = (1, 2, 5, 7, 3, 6)


def _action(embodiment: str, rng: np.random.Generator) -> Any:
    if embodiment == "test:arm":
        return rng.uniform(-1, 1, 2).astype(np.float32)
    if embodiment == "test:grid":
        return int(rng.integers(3))
    return f"key {['ENTER', 'TAB'][int(rng.integers(2))]}"


def _write(root: Path, image_format: str) -> Path:
    """Episodes of every action kind and of lengths 1 to 7 (shorter and longer than the contexts tested), noisy
    images (each decoded value is checked) and proprio on the arm, spread over several shards and row groups."""
    writer = DatasetWriter(root, image_format=image_format, shard_max_rows=25, row_group_rows=9)
    for embodiment, spec in SPECS.items():
        writer.add_embodiment(embodiment, {"domain": "game", "action": action_document(spec)})
    rng = np.random.default_rng(0)
    number = 0
    for embodiment, spec in SPECS.items():
        for length in LENGTHS:
            builder = EpisodeBuilder(embodiment, "t", spec, image_format, seed=number, attempt=number)
            for step in range(length):
                observation = {
                    "image": rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
                    "instruction": f"episode {number}",
                }
                if embodiment == "test:arm":
                    observation["proprio"] = rng.normal(size=3).astype(np.float32)
                builder.add_step(observation, _action(embodiment, rng), 0.0, False, step == length - 1, False)
            writer.add_episode(builder.episode)
            number += 1
    writer.close()
    return root


@pytest.fixture(scope="module", params=["png", "raw", "jpeg"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp(request.param) / "d", request.param)


def _padded(values: list[Any], pad: int, fill: Any) -> list[Any]:
    return [fill] * pad + values


def _reference(root: Path, context: int, decode: bool) -> dict[tuple[int, int], dict[str, Any]]:
    """Each window built from its episode's rows, one step at a time (the definition ``WindowDataset`` follows)."""
    windows: dict[tuple[int, int], dict[str, Any]] = {}
    kinds = {name: document["action"]["kind"] for name, document in DatasetMeta.load(root).info["embodiments"].items()}
    for episode in iter_episodes(DatasetMeta.load(root)):
        rows = episode.to_pylist()
        kind = kinds[rows[0]["embodiment"]]
        for step, row in enumerate(rows):
            span = rows[max(0, step + 1 - context) : step + 1]
            pad = context - len(span)
            if decode:
                frames = [decode_image(r["image"]) for r in span]
                images: Any = np.concatenate([np.zeros((pad, *frames[0].shape), np.uint8), np.stack(frames)])
            else:
                images = _padded([r["image"] for r in span], pad, None)
            if kind == "continuous":
                actions: Any = np.array(_padded([r["action"] for r in span], pad, [0.0] * 2), np.float32)
            elif kind == "discrete":
                actions = np.array(_padded([r["action_index"] for r in span], pad, -1), np.int64)
            else:
                actions = _padded([r["action_text"] for r in span], pad, "")
            proprio = None
            if row["proprio"] is not None:
                proprio = np.array(_padded([r["proprio"] for r in span], pad, [0.0] * 3), np.float32)
            windows[(row["episode_index"], step)] = {
                "embodiment": row["embodiment"],
                "task": row["task"],
                "instruction": row["instruction"],
                "episode_index": row["episode_index"],
                "step": step,
                "mask": np.arange(context) >= pad,
                "action_text": _padded([r["action_text"] or "" for r in span], pad, ""),
                "images": images,
                "proprio": proprio,
                "actions": actions,
                "target_action": actions[-1],
            }
    return windows


def _assert_same(found: Any, expected: Any, where: str) -> None:
    if isinstance(expected, np.ndarray):
        assert isinstance(found, np.ndarray) and found.dtype == expected.dtype, where
        np.testing.assert_array_equal(found, expected, err_msg=where)
    else:
        assert type(found) is type(expected) or np.asarray(found).item() == expected, where
        assert found == expected, where


@pytest.mark.parametrize("context", [1, 3, 6])
@pytest.mark.parametrize(("decode_threads", "prefetch"), [(1, False), (3, True)])
def test_windows_equal_the_ones_built_from_the_rows(
    dataset: Path, context: int, decode_threads: int, prefetch: bool
) -> None:
    expected = _reference(dataset, context, decode=True)
    reader = WindowDataset(dataset, context, loop=False, seed=1, decode_threads=decode_threads, prefetch=prefetch)
    found = list(reader)
    assert len(found) == len(expected) == len(SPECS) * sum(LENGTHS)
    for window in found:
        key = (window["episode_index"], window["step"])
        reference = expected.pop(key)
        assert list(window) == list(reference)
        for name, value in reference.items():
            _assert_same(window[name], value, f"{key} {name}")
        assert all(value.flags.writeable for value in window.values() if isinstance(value, np.ndarray))
    assert not expected  # every step once


def test_encoded_windows_equal_the_ones_built_from_the_rows(dataset: Path) -> None:
    expected = _reference(dataset, 4, decode=False)
    for window in WindowDataset(dataset, context=4, loop=False, decode_images=False):
        reference = expected.pop((window["episode_index"], window["step"]))
        for name, value in reference.items():
            _assert_same(window[name], value, name)
    assert not expected


def test_windows_do_not_share_memory(dataset: Path) -> None:
    first, second = (w for _, w in zip(range(2), WindowDataset(dataset, context=3, seed=4), strict=False))
    for name in ("images", "actions", "mask"):
        if isinstance(first[name], np.ndarray):
            assert not np.shares_memory(first[name], second[name])


def test_decode_threads_must_be_positive(dataset: Path) -> None:
    with pytest.raises(ConfigError, match="decode_threads"):
        WindowDataset(dataset, decode_threads=0)


def test_a_damaged_raw_shard_names_the_file_and_row_group(tmp_path: Path) -> None:
    root = _write(tmp_path / "raw", "raw")
    shard = root / DatasetMeta.load(root).shard_files()[0]
    status = shard.stat()
    chunk = pq.read_metadata(shard).row_group(0).column(ROW_SCHEMA.get_field_index("image"))
    data = bytearray(shard.read_bytes())
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data[start + chunk.total_compressed_size // 2] ^= 0xFF  # inside the column chunk, dictionary page or not
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(status.st_atime_ns, status.st_mtime_ns))  # same size and time: opens, fails on read
    with pytest.raises(DatasetError) as error:
        list(WindowDataset(root, context=3, loop=False))
    assert str(shard) in str(error.value) and "row group" in str(error.value)
    assert f"gea dataset verify {root}" in str(error.value)
