"""A damaged dataset stops every reader with an error naming the file and the fix; repair sets damage aside.

Every test damages a copy of one real dataset (BabyAI bot episodes collected by `gea collect`): a truncated shard,
bytes flipped inside a shard (with and without its modification time restored), a corrupt `meta/checksums.json`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gea.cli import main as gea_main
from gea.errors import ConfigError, DatasetError
from gea.rollouts.collect import CollectConfig, collect
from gea.rollouts.dataset import ROW_SCHEMA, DatasetMeta, WindowDataset, verify
from gea.rollouts.dataset.integrity import VERIFIED_FILE
from gea.rollouts.dataset.layout import meta_path
from gea.rollouts.dataset.repair import repair

ENV = "babyai:GoToRedBallNoDists"
EPISODES = 8


def _settings(out: Path) -> CollectConfig:
    return CollectConfig(
        envs=[ENV],
        episodes_per_task=EPISODES,
        num_envs=0,
        image_size=16,
        shard_max_rows=12,
        row_group_rows=6,
        progress=False,
        out=str(out),
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integrity") / "data"
    collect(_settings(root))
    assert len(DatasetMeta.load(root).shard_files()) >= 3
    return root


@pytest.fixture
def dataset(pristine: Path, tmp_path: Path) -> Path:
    """A copy that keeps the shards' modification times (as `cp -p` or rsync -a would)."""
    return Path(shutil.copytree(pristine, tmp_path / "data"))


def _shard(root: Path, number: int = 1) -> Path:
    return root / DatasetMeta.load(root, check_shards=False).shard_files()[number]


def _flip_image_byte(path: Path, keep_mtime: bool) -> None:
    """Flip one byte inside the image data of the shard's first row group (not in its footer)."""
    status = path.stat()
    chunk = pq.read_metadata(path).row_group(0).column(ROW_SCHEMA.get_field_index("image"))
    data = bytearray(path.read_bytes())
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data[start + chunk.total_compressed_size // 2] ^= 0xFF  # inside the column chunk (raw frames: dictionary pages)
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def _assert_names_file_and_fix(message: str, path: Path, root: Path) -> None:
    assert str(path) in message
    assert f"gea dataset verify {root}" in message or f"gea dataset repair {root}" in message


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_opening_a_damaged_shard_names_it_and_the_fix(dataset: Path, damage: str) -> None:
    shard = _shard(dataset)
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-100])
    else:
        _flip_image_byte(shard, keep_mtime=False)
    for open_it in (DatasetMeta.load, WindowDataset):
        with pytest.raises(DatasetError) as error:
            open_it(dataset)
        _assert_names_file_and_fix(str(error.value), shard, dataset)
        assert ("bytes, but meta/checksums.json recorded" if damage == "truncate" else "sha256") in str(error.value)


def test_a_flip_that_keeps_size_and_time_is_caught_by_page_checksums_on_read(dataset: Path) -> None:
    shard = _shard(dataset)
    _flip_image_byte(shard, keep_mtime=True)
    windows = WindowDataset(dataset, context=1, loop=False)  # size, footer and time are unchanged: opens
    with pytest.raises(DatasetError) as error:
        list(windows)
    _assert_names_file_and_fix(str(error.value), shard, dataset)
    assert "row group" in str(error.value)
    assert not verify(str(dataset)).ok


def test_a_copy_with_new_modification_times_is_hashed_once(pristine: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(pristine, tmp_path / "copy", copy_function=shutil.copy))
    assert not meta_path(copy, VERIFIED_FILE).exists()
    DatasetMeta.load(copy)
    verified = json.loads(meta_path(copy, VERIFIED_FILE).read_text())
    assert sorted(verified) == DatasetMeta.load(copy).shard_files()


@pytest.mark.parametrize("content", ["{ not json", "[1, 2]", '{"data/shard-000000.parquet": {"rows": 3}}'])
def test_corrupt_checksums_json_names_the_file_and_repair_rebuilds_it(dataset: Path, content: str) -> None:
    before = DatasetMeta.load(dataset).episodes
    meta_path(dataset, "checksums.json").write_text(content)
    with pytest.raises(DatasetError) as error:
        DatasetMeta.load(dataset)
    assert str(meta_path(dataset, "checksums.json")) in str(error.value)
    assert f"gea dataset repair {dataset}" in str(error.value)
    assert gea_main(["dataset", "verify", str(dataset)]) == 1  # a clear error, not a traceback
    report = repair(dataset)
    assert str(meta_path(dataset, "checksums.json")) in report.rebuilt
    assert (dataset / "quarantine" / "checksums.json").read_text() == content  # nothing is deleted
    after = DatasetMeta.load(dataset).episodes
    assert after.to_pylist() == before.to_pylist()
    assert verify(str(dataset)).ok


def test_repair_sets_the_damaged_shard_aside_and_collect_resume_refills(
    pristine: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard = _shard(dataset)
    lost = DatasetMeta.load(dataset).episodes.to_pylist()
    lost = [row for row in lost if row["shard"] == str(shard.relative_to(dataset))]
    _flip_image_byte(shard, keep_mtime=True)
    assert gea_main(["dataset", "verify", str(dataset)]) == 1
    assert f"gea dataset repair {dataset}" in capsys.readouterr().out
    assert gea_main(["dataset", "repair", str(dataset)]) == 0
    printed = capsys.readouterr().out
    assert f"set aside {shard}" in printed and f"removed {len(lost)} episodes of {ENV}" in printed
    assert (dataset / "quarantine" / shard.name).is_file() and not shard.exists()
    assert verify(str(dataset)).ok
    assert DatasetMeta.load(dataset).num_episodes == EPISODES - len(lost)
    resumed = _settings(dataset)
    resumed.resume = True
    refilled = collect(resumed).meta
    assert refilled.num_episodes == EPISODES and verify(str(dataset)).ok
    # the same attempts ran again: same seeds, and the bot is deterministic, so the same episodes
    columns = ["embodiment", "attempt", "seed", "length", "return", "success"]
    assert sorted(map(str, refilled.episodes.select(columns).to_pylist())) == sorted(
        map(str, DatasetMeta.load(pristine).episodes.select(columns).to_pylist())
    )


def test_appending_to_a_damaged_dataset_is_refused(dataset: Path) -> None:
    shard = _shard(dataset, 0)
    shard.write_bytes(shard.read_bytes()[:-1])
    resumed = _settings(dataset)
    resumed.resume = True
    with pytest.raises(DatasetError) as error:
        collect(resumed)
    _assert_names_file_and_fix(str(error.value), shard, dataset)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_sft_on_a_damaged_dataset_stops_before_training(
    dataset: Path, tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shard = _shard(dataset)
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-100])
    else:
        _flip_image_byte(shard, keep_mtime=False)
    out = tmp_path / "sft"
    settings = ["steps=2", "batch_size=2", "device=cpu", "cpu_threads=1", "progress=false", f"out_dir={out}"]
    assert gea_main(["sft", f"data.paths=[{dataset}]", *settings]) == 1
    message = capsys.readouterr().err
    assert message.startswith("gea sft: error: dataset") and "Traceback" not in message
    _assert_names_file_and_fix(message, shard, dataset)
    assert not (out / "checkpoints").exists() and not (out / "policy").exists()


def test_damage_error_survives_pickling(dataset: Path) -> None:
    import pickle

    shard = _shard(dataset)
    shard.unlink()
    with pytest.raises(DatasetError) as error:
        DatasetMeta.load(dataset)
    copy = pickle.loads(pickle.dumps(error.value))
    assert str(copy) == str(error.value) and f"{shard}: missing shard" in str(copy)


def test_unreadable_episodes_table_is_rebuilt_from_the_shard_footers(dataset: Path) -> None:
    before = DatasetMeta.load(dataset).episodes.to_pylist()
    table = meta_path(dataset, "episodes.parquet")
    table.write_bytes(table.read_bytes()[:50])
    with pytest.raises(DatasetError, match=f"gea dataset repair {dataset}") as error:
        WindowDataset(dataset)
    assert str(table) in str(error.value)
    assert str(table) in repair(dataset).rebuilt
    assert DatasetMeta.load(dataset).episodes.to_pylist() == before and verify(str(dataset)).ok


def test_unreadable_info_json_names_the_file(dataset: Path) -> None:
    meta_path(dataset, "info.json").write_text('{"format": "gea-episodes", ')
    with pytest.raises(DatasetError, match="collect the dataset again") as error:
        DatasetMeta.load(dataset)
    assert str(meta_path(dataset, "info.json")) in str(error.value)


def test_tokenizer_fit_on_a_truncated_shard_names_it_and_the_fix(dataset: Path, tmp_path: Path) -> None:
    from gea.tokenizers.data import load_actions

    shard = _shard(dataset)
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ConfigError) as error:
        load_actions(dataset)
    _assert_names_file_and_fix(str(error.value), shard, dataset)


def test_the_image_column_stores_no_statistics(pristine: Path) -> None:
    """Whole frames as min/max would be copied into every page header and the footer; other columns keep theirs."""
    metadata = pq.read_metadata(_shard(pristine))
    columns = metadata.row_group(0)
    assert not columns.column(ROW_SCHEMA.get_field_index("image")).is_stats_set
    assert columns.column(ROW_SCHEMA.get_field_index("reward")).is_stats_set
