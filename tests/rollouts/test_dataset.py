"""Episode dataset format: writer, metadata, atomic commits, crash recovery, verify, plain-Parquet loading."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gea.rollouts.dataset import (
    ROW_SCHEMA,
    DatasetError,
    DatasetMeta,
    DatasetWriter,
    EpisodeBuilder,
    action_document,
    decode_image,
    verify,
)
from gea.rollouts.dataset.layout import meta_path
from gea.spec import ContinuousActions, DiscreteActions, TextActions

ARM = ContinuousActions(4, (-1.0,) * 4, (1.0,) * 4)
GRID = DiscreteActions(("turn left", "turn right", "move forward"))
UI = TextActions(("click X Y", 'type "TEXT"'))


def _episode(embodiment: str, spec, length: int, seed: int, success: bool = True):
    """A synthetic episode whose images and actions encode (seed, step) so they can be checked."""
    rng = np.random.default_rng(seed)
    builder = EpisodeBuilder(embodiment, embodiment.split(":")[-1], spec, seed=seed, attempt=seed)
    for step in range(length):
        image = np.full((16, 16, 3), (seed * 7 + step) % 256, np.uint8)
        if isinstance(spec, ContinuousActions):
            action = rng.uniform(-1, 1, 4).astype(np.float32)
        elif isinstance(spec, DiscreteActions):
            action = int(rng.integers(spec.n))
        else:
            action = f"click {step} {seed}"
        observation = {"image": image, "instruction": f"task {embodiment}", "proprio": np.full(3, step, np.float32)}
        last = step == length - 1
        builder.add_step(observation, action, 1.0, last and success, last and not success, last and success)
    return builder.episode


def _write(root: Path, lengths: dict[str, list[int]], **kwargs) -> DatasetMeta:
    specs = {"test:arm": ARM, "test:grid": GRID, "test:ui": UI}
    writer = DatasetWriter(root, **{"shard_max_rows": 40, "row_group_rows": 15, **kwargs})
    for embodiment in lengths:
        writer.add_embodiment(embodiment, {"domain": "game", "action": action_document(specs[embodiment])})
    seed = 0
    for embodiment, episode_lengths in lengths.items():
        for length in episode_lengths:
            writer.add_episode(_episode(embodiment, specs[embodiment], length, seed))
            seed += 1
    return writer.close()


def test_rows_metadata_and_card(tmp_path: Path) -> None:
    meta = _write(tmp_path / "d", {"test:arm": [10, 7, 12], "test:grid": [5, 9], "test:ui": [4]})
    assert meta.num_episodes == 6 and meta.num_steps == 47
    assert len(meta.shard_files()) == 2  # 40 rows per shard at most, never splitting an episode
    table = pq.read_table(tmp_path / "d" / "data")
    assert table.schema.remove_metadata().equals(ROW_SCHEMA.remove_metadata())
    arm = table.filter(np.asarray(table["embodiment"].to_pylist()) == "test:arm")
    assert len(arm["action"][0].as_py()) == 4 and arm["action_index"][0].as_py() is None
    grid = table.filter(np.asarray(table["embodiment"].to_pylist()) == "test:grid")
    index, text = grid["action_index"][0].as_py(), grid["action_text"][0].as_py()
    assert GRID.names[index] == text
    ui = table.filter(np.asarray(table["embodiment"].to_pylist()) == "test:ui")
    assert ui["action_text"][2].as_py() == "click 2 5" and ui["action"][0].as_py() is None
    assert decode_image(table["image"][0].as_py()).shape == (16, 16, 3)
    # Episode offsets point at the right rows.
    for row in meta.episodes.to_pylist():
        parquet = pq.ParquetFile(tmp_path / "d" / row["shard"])
        group = parquet.read_row_group(row["row_group"])
        start = row["row_start"] - sum(parquet.metadata.row_group(g).num_rows for g in range(row["row_group"]))
        rows = group.slice(start, row["length"]).to_pydict()
        assert set(rows["episode_index"]) == {row["episode_index"]} and rows["step"] == list(range(row["length"]))
    stats = json.loads(meta_path(tmp_path / "d", "stats.json").read_text())
    assert stats["test:arm"]["count"] == 29 and len(stats["test:arm"]["q50"]) == 4
    assert min(stats["test:arm"]["min"]) >= -1 and max(stats["test:arm"]["max"]) <= 1
    assert sum(stats["test:grid"]["frequency"].values()) == 14 and stats["test:ui"]["frequency"] == {"click": 4}
    card = (tmp_path / "d" / "README.md").read_text()
    assert "| test:arm | arm | 3 | 100.0% |" in card and "Action statistics" in card


def test_continuous_statistics_match_numpy(tmp_path: Path) -> None:
    meta = _write(tmp_path / "d", {"test:arm": [30, 30, 30]})
    actions = np.asarray(pq.read_table(tmp_path / "d" / "data", columns=["action"])["action"].to_pylist())
    stats = json.loads(meta_path(meta.root, "stats.json").read_text())["test:arm"]
    np.testing.assert_allclose(stats["mean"], actions.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats["std"], actions.std(0), atol=1e-6)
    np.testing.assert_allclose(stats["q50"], np.quantile(actions, 0.5, axis=0), atol=1e-6)


def test_loadable_by_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="the `datasets` package (gea[data]) is not installed")
    _write(tmp_path / "d", {"test:arm": [10, 7], "test:grid": [5]})
    loaded = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "d" / "data" / "*.parquet"), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert loaded.num_rows == 22
    assert set(loaded.column_names) == set(ROW_SCHEMA.names)
    assert loaded[0]["embodiment"] == "test:arm" and len(loaded[0]["action"]) == 4


def test_verify_names_the_corrupt_shard(tmp_path: Path) -> None:
    meta = _write(tmp_path / "d", {"test:grid": [10, 10, 10, 10, 10]})
    assert verify(str(meta.root)).ok
    shard = meta.root / meta.shard_files()[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    report = verify(str(meta.root))
    assert not report.ok and str(shard) in report.problems[0] and "corrupt" in report.problems[0]
    from gea.cli import main

    assert main(["dataset", "verify", str(meta.root)]) == 1


def test_crash_leaves_no_valid_partial_shard_and_append_recovers(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "d"
    _write(root, {"test:grid": [10, 10, 10, 10]})
    before = DatasetMeta.load(root)
    # A crash mid-write leaves only a hidden temporary file, never a *.parquet shard.
    (root / "data" / ".shard-000009.parquet.123.tmp").write_bytes(b"PAR1 partial")
    # A crash after the shard's rename but before the metadata commit leaves a complete shard.
    import gea.rollouts.dataset.writer as writer_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated crash before the metadata commit")

    writer = DatasetWriter(root, append=True, shard_max_rows=1000)
    monkeypatch.setattr(writer_module, "write_episodes", crash)
    writer.add_episode(_episode("test:grid", GRID, 6, 99))
    with pytest.raises(KeyboardInterrupt):
        writer.commit()
    monkeypatch.undo()
    assert DatasetMeta.load(root).num_episodes == before.num_episodes
    with pytest.raises(DatasetError, match="resume=true"):
        DatasetWriter(root)
    appended = DatasetWriter(root, append=True, shard_max_rows=40, row_group_rows=15)
    assert not (root / "data" / ".shard-000009.parquet.123.tmp").exists()
    assert appended.committed.num_rows == before.num_episodes + 1
    appended.add_episode(_episode("test:grid", GRID, 3, 100))
    after = appended.close()
    assert after.num_episodes == before.num_episodes + 2
    assert verify(str(root)).ok
    assert sorted(after.episodes["episode_index"].to_pylist()) == list(range(after.num_episodes))


def test_slow_metadata_rewrites_are_spaced_out_and_nothing_is_lost(tmp_path: Path, monkeypatch) -> None:
    """Past a slow rewrite, commits skip rewriting meta/ for a while; close() or a crash-and-resume records all."""
    import gea.rollouts.dataset.writer as writer_module

    monkeypatch.setattr(writer_module, "QUICK_METADATA_S", 0.0)  # every rewrite counts as slow...
    monkeypatch.setattr(writer_module, "METADATA_SHARE", 1e-9)  # ...and the next one is due only much later
    root = tmp_path / "d"
    writer = DatasetWriter(root, shard_max_rows=10, row_group_rows=5)
    writer.add_embodiment("test:grid", {"domain": "game", "action": action_document(GRID)})
    for seed in range(6):
        writer.add_episode(_episode("test:grid", GRID, 10, seed))  # one shard each
    assert writer.committed.num_rows == 6
    recorded = DatasetMeta.load(root)
    assert recorded.num_episodes < 6 and verify(str(root)).ok  # meta/ lags; what it lists is sound
    # A crash now (no close): reopening adopts the unrecorded shards from their own footers.
    del writer
    resumed = DatasetWriter(root, append=True, shard_max_rows=10, row_group_rows=5)
    assert resumed.committed.num_rows == 6 and DatasetMeta.load(root).num_episodes == 6
    resumed.add_episode(_episode("test:grid", GRID, 10, 6))
    resumed.add_episode(_episode("test:grid", GRID, 10, 7))
    assert DatasetMeta.load(root).num_episodes < 8
    meta = resumed.close()
    assert meta.num_episodes == 8 and verify(str(root)).ok
    assert meta.episodes["episode_index"].to_pylist() == list(range(8))
    assert json.loads(meta_path(root, "info.json").read_text())["total_episodes"] == 8
