"""LeRobotDataset v3.0 interop: export -> import gives back the same episodes; foreign datasets; LeRobot's loader."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gea.commands.dataset import main as dataset_command
from gea.envs.spec import ContinuousActions, DiscreteActions, TextActions
from gea.errors import ConfigError
from gea.rollouts.dataset import (
    DatasetError,
    DatasetMeta,
    DatasetWriter,
    EpisodeBuilder,
    action_document,
    decode_image,
    export_lerobot,
    import_lerobot,
    iter_episodes,
    lerobot_io,
    verify,
)

pytest.importorskip("pandas", reason="LeRobot's meta/tasks.parquet is written through pandas (gea[data])")

SPECS = {
    "test:arm": ContinuousActions(3, (-1.0, -1.0, -1.0), (1.0, 1.0, 1.0)),
    "test:grid": DiscreteActions(("turn left", "turn right", "move forward")),
    "test:web": TextActions(("click X Y", 'type "TEXT"'), grid=50, max_length=64),
}
LEROBOT_PYTHON = os.environ.get("GEA_LEROBOT_PYTHON")


def _frame(episode: int, step: int) -> np.ndarray:
    """A smooth frame (gradient + a moving square) unique to (episode, step), with a few noisy pixels."""
    y, x = np.mgrid[0:24, 0:32]
    frame = np.stack([4 * x + 2 * episode, 6 * y, np.full_like(x, 10 * step)], axis=-1) % 256
    frame[(2 * step) % 20 : (2 * step) % 20 + 4, 4:8] = (250, 20, 20)
    frame[episode % 24, step % 32] = (step * 37 + episode) % 256
    return frame.astype(np.uint8)


def _write(root: Path, embodiments: tuple[str, ...], episodes: int = 5) -> Path:
    writer = DatasetWriter(root, shard_max_rows=30, row_group_rows=12)
    for name in embodiments:
        document = {"domain": "game", "description": name, "simulator": "s", "camera": "top"}
        writer.add_embodiment(name, {**document, "action": action_document(SPECS[name])})
    rng = np.random.default_rng(0)
    number = 0
    for name in embodiments:
        for _ in range(episodes):
            builder = EpisodeBuilder(name, f"task{number % 2}", SPECS[name], seed=1000 + number, attempt=number % 3)
            length = 4 + number % 5
            for step in range(length):
                observation = {"image": _frame(number, step), "instruction": f"goal {number % 3}"}
                if name == "test:arm":
                    observation["proprio"] = rng.random(5)
                    action = rng.uniform(-1, 1, 3)
                elif name == "test:grid":
                    action = int(rng.integers(3))
                else:
                    action = f"click {int(rng.integers(50))} {step}"
                last = step == length - 1
                terminated, truncated = last and number % 2 == 0, last and number % 2 == 1
                builder.add_step(observation, action, 0.5 * step, terminated, truncated, last and number % 3 == 0)
            writer.add_episode(builder.episode)
            number += 1
    writer.close()
    return root


def _rows(meta: DatasetMeta) -> list[list[dict]]:
    return [table.to_pylist() for table in iter_episodes(meta)]


def _episode_meta(meta: DatasetMeta) -> list[dict]:
    return meta.episodes.drop(["shard", "row_group", "row_start"]).to_pylist()


@pytest.mark.parametrize("embodiment", sorted(SPECS))
@pytest.mark.parametrize("video_codec", [None, "libx264rgb"])
def test_export_then_import_gives_back_the_same_episodes(
    tmp_path: Path, embodiment: str, video_codec: str | None
) -> None:
    source = DatasetMeta.load(_write(tmp_path / "source", (embodiment,)))
    exported = export_lerobot(source.root, tmp_path / "lerobot", video_codec=video_codec)
    back = import_lerobot(exported, tmp_path / "back")
    assert verify(str(back.root)).ok
    assert _rows(back) == _rows(source)  # every column, image bytes included
    assert _episode_meta(back) == _episode_meta(source)  # task label, seed, attempt, return, success
    assert back.embodiments == source.embodiments


def test_export_layout_follows_lerobot_v3(tmp_path: Path) -> None:
    source = DatasetMeta.load(_write(tmp_path / "source", ("test:arm",)))
    out = export_lerobot(source.root, tmp_path / "lerobot", fps=15)
    info = json.loads((out / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 15
    assert info["total_episodes"] == 5 and info["total_frames"] == source.num_steps
    assert info["splits"] == {"train": "0:5"} and info["total_tasks"] == 3
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["features"]["observation.image"] == {
        "dtype": "image",
        "shape": [24, 32, 3],
        "names": ["height", "width", "channels"],
    }
    assert info["features"]["observation.state"]["shape"] == [5] and info["features"]["action"]["shape"] == [3]
    data = pq.read_table(out / "data" / "chunk-000" / "file-000.parquet")
    for name, feature in info["features"].items():
        assert name in data.column_names, name
        assert feature["dtype"] != "image" or data.schema.field(name).type.names == ["bytes", "path"]
    assert data["index"].to_pylist() == list(range(source.num_steps))
    np.testing.assert_allclose(data["timestamp"].to_numpy(), np.asarray(data["frame_index"].to_pylist()) / 15)
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert [e["episode_index"] for e in episodes] == list(range(5))
    assert episodes[1]["dataset_from_index"] == episodes[0]["dataset_to_index"] == episodes[0]["length"]
    assert all(e["data/chunk_index"] == 0 and e["data/file_index"] == 0 for e in episodes)
    tasks = pq.read_pandas(out / "meta" / "tasks.parquet").to_pandas()
    assert sorted(tasks.index) == ["goal 0", "goal 1", "goal 2"] and sorted(tasks["task_index"]) == [0, 1, 2]
    stats = json.loads((out / "meta" / "stats.json").read_text())
    assert np.asarray(stats["observation.image"]["mean"]).shape == (3, 1, 1)
    assert stats["action"]["count"] == [source.num_steps] and len(stats["action"]["q99"]) == 3


def test_files_roll_over_and_episodes_never_straddle_them(tmp_path: Path) -> None:
    source = DatasetMeta.load(_write(tmp_path / "source", ("test:grid",), episodes=8))
    out = export_lerobot(source.root, tmp_path / "lerobot", data_file_mb=0, chunks_size=3)
    episodes = pq.read_table(out / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    places = [(e["data/chunk_index"], e["data/file_index"]) for e in episodes]
    assert places[:4] == [(0, 0), (0, 1), (0, 2), (1, 0)] and len(set(places)) == 8
    assert _rows(import_lerobot(out, tmp_path / "back")) == _rows(source)


def test_lossy_video_keeps_everything_but_exact_pixels(tmp_path: Path) -> None:
    source = DatasetMeta.load(_write(tmp_path / "source", ("test:grid",)))
    back = import_lerobot(export_lerobot(source.root, tmp_path / "av1", video_codec="libsvtav1"), tmp_path / "back")
    for original, copy in zip(_rows(source), _rows(back), strict=True):
        for a, b in zip(original, copy, strict=True):
            assert {k: v for k, v in a.items() if k != "image"} == {k: v for k, v in b.items() if k != "image"}
            error = np.abs(decode_image(a["image"]).astype(int) - decode_image(b["image"]))
            assert error.mean() < 12  # AV1 in yuv420p on a 32x24 frame


def test_foreign_lerobot_dataset_imports_with_documented_defaults(tmp_path: Path) -> None:
    """A v3 dataset without this format's extras: bounds from stats.json, terminated from next.done."""
    source = DatasetMeta.load(_write(tmp_path / "source", ("test:arm",)))
    out = export_lerobot(source.root, tmp_path / "robot_data")
    info_file = out / "meta" / "info.json"
    info = json.loads(info_file.read_text())
    del info["gea"]
    for name in ("next.terminated", "next.truncated"):
        del info["features"][name]
    info_file.write_text(json.dumps(info))
    episodes_file = out / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    episodes = pq.read_table(episodes_file)
    pq.write_table(episodes.drop([c for c in episodes.column_names if c.startswith("gea/")]), episodes_file)
    data_file = out / "data" / "chunk-000" / "file-000.parquet"
    pq.write_table(pq.read_table(data_file).drop(["next.terminated", "next.truncated"]), data_file)

    back = import_lerobot(out, tmp_path / "back", task="pick")
    assert list(back.embodiments) == ["lerobot:robot_data"]
    action = back.embodiments["lerobot:robot_data"]["action"]
    stats = json.loads((out / "meta" / "stats.json").read_text())["action"]
    assert action["kind"] == "continuous" and action["low"] == pytest.approx(stats["min"])
    for original, copy in zip(_rows(source), _rows(back), strict=True):
        assert [r["image"] for r in copy] == [r["image"] for r in original]
        assert [r["terminated"] for r in copy] == [r["terminated"] or r["truncated"] for r in original]
        assert {r["task"] for r in copy} == {"pick"}
        assert [r["instruction"] for r in copy] == [r["instruction"] for r in original]


def test_multi_embodiment_dataset_exports_one_named_embodiment(tmp_path: Path) -> None:
    source = DatasetMeta.load(_write(tmp_path / "source", ("test:arm", "test:grid")))
    with pytest.raises(ConfigError, match="name the embodiment"):
        export_lerobot(source.root, tmp_path / "lerobot")
    out = export_lerobot(source.root, tmp_path / "lerobot", embodiment="test:grid")
    back = import_lerobot(out, tmp_path / "back")
    original = [rows for rows in _rows(source) if rows[0]["embodiment"] == "test:grid"]
    # Export numbers episodes 0..N-1 as LeRobot requires; everything else comes back.
    strip = [[{k: v for k, v in r.items() if k != "episode_index"} for r in rows] for rows in original]
    assert [[{k: v for k, v in r.items() if k != "episode_index"} for r in rows] for rows in _rows(back)] == strip


def test_bad_inputs_fail_clearly_and_leave_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    source = _write(tmp_path / "source", ("test:grid",))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        export_lerobot(source, tmp_path / "taken")
    with pytest.raises(ConfigError, match="no embodiment"):
        export_lerobot(source, tmp_path / "out", embodiment="test:nothing")

    def crash(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(lerobot_io, "_write_meta", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_lerobot(source, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))
    monkeypatch.undo()

    old = export_lerobot(source, tmp_path / "old")
    info = json.loads((old / "meta" / "info.json").read_text())
    (old / "meta" / "info.json").write_text(json.dumps({**info, "codebase_version": "v2.1"}))
    with pytest.raises(DatasetError, match="convert_dataset_v21_to_v30"):
        import_lerobot(old, tmp_path / "back")
    with pytest.raises(DatasetError, match="not a LeRobot dataset"):
        import_lerobot(tmp_path / "taken", tmp_path / "back2")


def test_command_line_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path / "source", ("test:grid",))
    assert dataset_command(["export-lerobot", str(source), str(tmp_path / "lerobot"), "--fps", "30"]) == 0
    assert dataset_command(["import-lerobot", str(tmp_path / "lerobot"), str(tmp_path / "back")]) == 0
    assert "imported 5 episodes" in capsys.readouterr().out
    assert _rows(DatasetMeta.load(tmp_path / "back")) == _rows(DatasetMeta.load(source))


LEROBOT_READER = """
import sys
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

dataset = LeRobotDataset("gea/export", root=sys.argv[1], video_backend="pyav")
items = [dataset[i] for i in range(len(dataset))]
np.savez(
    sys.argv[2],
    images=np.stack([(item["observation.image"].numpy() * 255).round().astype(np.uint8) for item in items]),
    actions=np.stack([item["action"].numpy() for item in items]),
    rewards=np.asarray([float(item["next.reward"]) for item in items]),
    done=np.asarray([bool(item["next.done"]) for item in items]),
    episodes=np.asarray([int(item["episode_index"]) for item in items]),
    frames=np.asarray([int(item["frame_index"]) for item in items]),
    tasks=np.asarray([item["task"] for item in items]),
    length=len(dataset),
    num_episodes=dataset.num_episodes,
)
"""


@pytest.mark.lerobot
@pytest.mark.skipif(
    LEROBOT_PYTHON is None,
    reason="needs LeRobot (torch<2.11, numpy>=2) in its own interpreter: run scripts/lerobot_check.sh",
)
@pytest.mark.parametrize("video_codec", [None, "libx264rgb"])
def test_lerobot_own_loader_reads_the_export(tmp_path: Path, video_codec: str | None) -> None:
    source = DatasetMeta.load(_write(tmp_path / "source", ("test:arm",)))
    out = export_lerobot(source.root, tmp_path / "lerobot", video_codec=video_codec)
    script = tmp_path / "read.py"
    script.write_text(LEROBOT_READER)
    environment = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    environment["HF_HOME"] = str(tmp_path / "hf")  # LeRobot's Arrow cache stays in the test's folder
    command = [str(LEROBOT_PYTHON), str(script), str(out), str(tmp_path / "read.npz")]
    subprocess.run(command, check=True, env=environment, cwd=tmp_path)
    read = np.load(tmp_path / "read.npz")
    rows = [row for episode in _rows(source) for row in episode]
    assert int(read["length"]) == len(rows) and int(read["num_episodes"]) == 5
    images = np.stack([decode_image(row["image"]).transpose(2, 0, 1) for row in rows])
    np.testing.assert_array_equal(read["images"], images)
    np.testing.assert_allclose(read["actions"], np.asarray([row["action"] for row in rows]), rtol=1e-6)
    np.testing.assert_allclose(read["rewards"], [row["reward"] for row in rows])
    assert read["done"].tolist() == [row["terminated"] or row["truncated"] for row in rows]
    assert read["episodes"].tolist() == [row["episode_index"] for row in rows]
    assert read["frames"].tolist() == [row["step"] for row in rows]
    assert read["tasks"].tolist() == [row["instruction"] for row in rows]
