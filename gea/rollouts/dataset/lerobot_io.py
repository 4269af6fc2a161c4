"""Interop with LeRobotDataset v3.0: export one embodiment to LeRobot's layout, import a LeRobot dataset.

The LeRobot v3.0 layout, as written and read here::

    DATASET/
      meta/info.json                  codebase_version "v3.0", fps, features (dtype, shape, names), totals, paths
      meta/tasks.parquet              one row per task string (the pandas index) and its task_index
      meta/episodes/chunk-000/file-000.parquet   one row per episode: episode_index, tasks, length,
                                      data/chunk_index, data/file_index, dataset_from_index, dataset_to_index,
                                      meta/episodes/chunk_index, meta/episodes/file_index (+ videos/<key>/...)
      meta/stats.json                 per-feature min, max, mean, std, count, q01 ... q99
      data/chunk-000/file-000.parquet one row per frame: the features + timestamp, frame_index, episode_index,
                                      index, task_index; episodes never straddle a file
      videos/<key>/chunk-000/file-000.mp4        only for video features; episodes follow each other in a file

Mapping to this format's columns: ``observation.image`` <-> ``image`` (an HF ``Image`` struct holding the encoded
bytes, so PNG images cross unchanged; or an mp4 video with ``video_codec``), ``observation.state`` <-> ``proprio``,
``action`` <-> ``action`` (float vector) / ``action_index`` (int) / ``action_text`` (string), ``next.reward``,
``next.done`` (terminated or truncated), ``next.terminated``, ``next.truncated``, ``next.success``, and LeRobot's
task (the language instruction of a frame) <-> ``instruction``. What only this format knows (the embodiment's
action space and description, each episode's task label, seed and attempt) travels in ``info.json["gea"]`` and
the ``gea/...`` columns of the episodes table, which LeRobot ignores. Export renumbers episodes 0..N-1, as
LeRobot requires.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gea.envs.spec import ContinuousActions, DiscreteActions
from gea.errors import ConfigError, MissingDependencyError
from gea.files import atomic_write_json
from gea.rollouts.dataset.episode import Episode
from gea.rollouts.dataset.images import decode_image, encode_image
from gea.rollouts.dataset.layout import action_document, action_from_document
from gea.rollouts.dataset.meta import DatasetError, DatasetMeta
from gea.rollouts.dataset.scan import iter_episodes
from gea.rollouts.dataset.stats import ContinuousStats
from gea.rollouts.dataset.writer import DatasetWriter

CODEBASE_VERSION = "v3.0"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
IMAGE_KEY = "observation.image"
STATE_KEY = "observation.state"
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
IMAGE_STATS_FRAMES = 2_000
IMAGE_STRUCT = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
INDEX_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
OUTCOME_FEATURES = ("next.reward", "next.done", "next.terminated", "next.truncated", "next.success")
IMAGE_MAGIC = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}


# ------------------------------------------------------------------------------------------------ export
def _scalar(dtype: str) -> dict[str, Any]:
    return {"dtype": dtype, "shape": [1], "names": None}


def _features(action: Any, first: dict[str, Any], image_shape: tuple[int, ...] | None, video: dict | None) -> dict:
    """The ``info.json`` features of an exported embodiment."""
    features: dict[str, Any] = {}
    if image_shape is not None:
        names = ["height", "width", "channels"]
        if video is None:
            features[IMAGE_KEY] = {"dtype": "image", "shape": list(image_shape), "names": names}
        else:
            features[IMAGE_KEY] = {"dtype": "video", "shape": list(image_shape), "names": names, "info": video}
    if first["proprio"] is not None:
        dim = len(first["proprio"])
        features[STATE_KEY] = {"dtype": "float32", "shape": [dim], "names": [f"state_{i}" for i in range(dim)]}
    if isinstance(action, ContinuousActions):
        features["action"] = {"dtype": "float32", "shape": [action.dim], "names": [f"a{i}" for i in range(action.dim)]}
    elif isinstance(action, DiscreteActions):
        features["action"] = {"dtype": "int64", "shape": [1], "names": list(action.names)}
    else:
        features["action"] = _scalar("string")
    features["next.reward"] = _scalar("float32")
    for name in OUTCOME_FEATURES[1:]:
        features[name] = _scalar("bool")
    return {**features, **INDEX_FEATURES}


def _arrow_type(feature: dict[str, Any]) -> pa.DataType:
    """The Arrow type LeRobot (through Hugging Face ``datasets``) reads for a feature."""
    if feature["dtype"] == "image":
        return IMAGE_STRUCT
    scalar = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}
    if feature["dtype"] == "string":
        return pa.string()
    if list(feature["shape"]) == [1]:
        return scalar[feature["dtype"]]
    return pa.list_(scalar[feature["dtype"]], int(feature["shape"][0]))


class _Numbers:
    """Streaming statistics of one numeric feature in LeRobot's ``stats.json`` form."""

    def __init__(self, dim: int) -> None:
        self.stats = ContinuousStats(dim)

    def update(self, values: np.ndarray) -> None:
        self.stats.update(values.reshape(len(values), -1))

    def document(self) -> dict[str, Any]:
        """min, max, mean, std, count and LeRobot's quantiles."""
        base = self.stats.document()
        document = {key: base[key] for key in ("min", "max", "mean", "std")}
        document["count"] = [self.stats.count]
        for key, q in QUANTILES.items():
            document[key] = np.quantile(self.stats.reservoir, q, axis=0).tolist()
        return document


def _image_stats(frames: list[np.ndarray]) -> dict[str, Any]:
    """Per-channel statistics in [0, 1], shaped (3, 1, 1) as LeRobot stores them, from sampled frames."""
    pixels = np.stack(frames).reshape(-1, 3).astype(np.float64) / 255.0
    stats: dict[str, Any] = {
        "min": pixels.min(axis=0),
        "max": pixels.max(axis=0),
        "mean": pixels.mean(axis=0),
        "std": pixels.std(axis=0),
    }
    stats.update({key: np.quantile(pixels, q, axis=0) for key, q in QUANTILES.items()})
    document = {key: value.reshape(3, 1, 1).tolist() for key, value in stats.items()}
    document["count"] = [len(frames)]
    return document


@dataclass
class _FileRoller:
    """Chunk/file numbering of LeRobot's size-limited files (``chunks_size`` files per chunk folder)."""

    limit_bytes: float
    chunks_size: int
    chunk: int = 0
    file: int = 0
    written: float = 0.0

    def next_file(self) -> None:
        self.written = 0.0
        self.file += 1
        if self.file == self.chunks_size:
            self.chunk, self.file = self.chunk + 1, 0


@dataclass
class _VideoFile:
    """The mp4 file being written for the image feature, and the time its next frame starts at."""

    path: Path
    writer: Any
    frames: int = 0


@dataclass
class _Export:
    """State of one export: open files, counters and statistics."""

    out: Path
    fps: int
    features: dict[str, Any]
    data_files: _FileRoller
    video_files: _FileRoller
    video_codec: str | None
    schema: pa.Schema
    data_writer: pq.ParquetWriter | None = None
    video: _VideoFile | None = None
    frames: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    episode_rows: list[dict[str, Any]] = field(default_factory=list)
    numbers: dict[str, _Numbers] = field(default_factory=dict)
    image_samples: list[np.ndarray] = field(default_factory=list)
    video_row: dict[str, Any] = field(default_factory=dict)
    sampler: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


def _task_table(tasks: dict[str, int]) -> pa.Table:
    """``meta/tasks.parquet``: LeRobot reads it with pandas and expects the task strings as the index."""
    try:
        import pandas as pd
    except ImportError as error:
        raise MissingDependencyError("LeRobot export needs pandas: pip install 'gea[data]'") from error
    frame = pd.DataFrame({"task_index": list(tasks.values())}, index=list(tasks))
    return pa.Table.from_pandas(frame)


def export_lerobot(
    root: str | Path,
    out: str | Path,
    embodiment: str | None = None,
    fps: int = 10,
    video_codec: str | None = None,
    data_file_mb: int = 100,
    video_file_mb: int = 200,
    chunks_size: int = 1000,
) -> Path:
    """Write one embodiment's episodes as a LeRobotDataset v3.0 folder ``out``; return it.

    Images are stored as an ``image`` feature holding the dataset's encoded bytes (lossless and byte-exact for
    PNG), or with ``video_codec`` as mp4 video (``libsvtav1``: LeRobot's default, lossy; ``libx264rgb``: lossless
    H.264 in RGB). ``fps`` sets the timestamps (frame_index / fps). The folder appears only when complete.
    """
    meta = DatasetMeta.load(root)
    if embodiment is None:
        if len(meta.embodiments) != 1:
            raise ConfigError(f"{root} holds {sorted(meta.embodiments)}; name the embodiment to export")
        embodiment = next(iter(meta.embodiments))
    if embodiment not in meta.embodiments:
        raise ConfigError(f"{root} has no embodiment {embodiment!r}; it holds {sorted(meta.embodiments)}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} already exists and is not empty; choose a new output folder")
    selected = meta.episodes.filter(pc.equal(meta.episodes["embodiment"], embodiment))
    if selected.num_rows == 0:
        raise ConfigError(f"{root} has no episodes of {embodiment}")
    document = meta.embodiments[embodiment]
    action = action_from_document(document["action"])
    first = next(iter_episodes(meta, embodiment, columns=["image", "proprio"])).slice(0, 1).to_pylist()[0]
    image_shape = None if first["image"] is None else decode_image(first["image"]).shape
    video = None
    if video_codec is not None and image_shape is not None:
        pix_fmt = "rgb24" if video_codec == "libx264rgb" else "yuv420p"
        video = {
            "video.height": image_shape[0],
            "video.width": image_shape[1],
            "video.codec": "h264" if video_codec.startswith("libx264") else "av1",
            "video.pix_fmt": pix_fmt,
            "video.is_depth_map": False,
            "video.fps": fps,
            "video.channels": 3,
            "has_audio": False,
            "gea.encoder": video_codec,
        }
    features = _features(action, first, image_shape, video)
    schema = pa.schema([(name, _arrow_type(f)) for name, f in features.items() if f["dtype"] != "video"])
    staging = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    state = _Export(
        staging,
        fps,
        features,
        _FileRoller(data_file_mb * 2**20, chunks_size),
        _FileRoller(video_file_mb * 2**20, chunks_size),
        video_codec if video is not None else None,
        schema,
    )
    try:
        extras = selected.select(["task", "seed", "attempt"]).to_pylist()
        for number, (table, extra) in enumerate(zip(iter_episodes(meta, embodiment), extras, strict=True)):
            _export_episode(state, number, table, action, extra)
        _close_files(state)
        _write_meta(state, meta, embodiment, document, selected.num_rows)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        _close_files(state)
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _export_episode(state: _Export, number: int, table: pa.Table, action: Any, extra: dict[str, Any]) -> None:
    """Append one episode's frames to the current data (and video) file and record its episodes-table row."""
    rows = table.to_pydict()
    length = table.num_rows
    instructions = rows["instruction"]
    task_index = [state.tasks.setdefault(text, len(state.tasks)) for text in instructions]
    columns: dict[str, Any] = {}
    images = rows["image"]
    in_parquet = IMAGE_KEY in state.features and state.video_codec is None
    estimate = 64 * length + (sum(len(data) for data in images) if in_parquet else 0)
    if state.data_writer is not None and state.data_files.written + estimate > state.data_files.limit_bytes:
        state.data_writer.close()
        state.data_writer = None
        state.data_files.next_file()
    if IMAGE_KEY in state.features:
        if in_parquet:
            columns[IMAGE_KEY] = [{"bytes": data, "path": None} for data in images]
        else:
            _append_video(state, images)
        _sample_frame(state, number, images)
    if STATE_KEY in state.features:
        columns[STATE_KEY] = rows["proprio"]
        state.numbers.setdefault(STATE_KEY, _Numbers(len(rows["proprio"][0]))).update(np.asarray(rows["proprio"]))
    if isinstance(action, ContinuousActions):
        columns["action"] = rows["action"]
        state.numbers.setdefault("action", _Numbers(action.dim)).update(np.asarray(rows["action"]))
    elif isinstance(action, DiscreteActions):
        columns["action"] = rows["action_index"]
        state.numbers.setdefault("action", _Numbers(1)).update(np.asarray(rows["action_index"], np.float64))
    else:
        columns["action"] = rows["action_text"]
    terminated, truncated = np.asarray(rows["terminated"]), np.asarray(rows["truncated"])
    columns["next.reward"] = rows["reward"]
    columns["next.done"] = (terminated | truncated).tolist()
    columns["next.terminated"] = rows["terminated"]
    columns["next.truncated"] = rows["truncated"]
    columns["next.success"] = rows["success"]
    state.numbers.setdefault("next.reward", _Numbers(1)).update(np.asarray(rows["reward"], np.float64))
    steps = np.asarray(rows["step"], np.int64)
    columns["timestamp"] = (steps / state.fps).astype(np.float32)
    columns["frame_index"] = steps
    columns["episode_index"] = np.full(length, number, np.int64)
    columns["index"] = np.arange(state.frames, state.frames + length, dtype=np.int64)
    columns["task_index"] = np.asarray(task_index, np.int64)
    batch = pa.table(columns, schema=state.schema)
    if state.data_writer is None:
        path = state.out / DATA_PATH.format(chunk_index=state.data_files.chunk, file_index=state.data_files.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        state.data_writer = pq.ParquetWriter(path, state.schema)
    state.data_writer.write_table(batch)
    state.data_files.written += estimate
    row = {
        "episode_index": number,
        "tasks": sorted(set(instructions), key=instructions.index),
        "length": length,
        "data/chunk_index": state.data_files.chunk,
        "data/file_index": state.data_files.file,
        "dataset_from_index": state.frames,
        "dataset_to_index": state.frames + length,
        "gea/task": extra["task"],
        "gea/seed": extra["seed"],
        "gea/attempt": extra["attempt"],
    }
    row.update(state.video_row)
    state.episode_rows.append(row)
    state.frames += length


def _sample_frame(state: _Export, number: int, images: list[bytes]) -> None:
    """Keep one random frame of episode ``number`` in a reservoir of frames for the image statistics."""
    frame = int(state.sampler.integers(len(images)))
    if len(state.image_samples) < IMAGE_STATS_FRAMES:
        state.image_samples.append(decode_image(images[frame]))
        return
    slot = int(state.sampler.integers(number + 1))
    if slot < IMAGE_STATS_FRAMES:
        state.image_samples[slot] = decode_image(images[frame])


def _append_video(state: _Export, images: list[bytes]) -> None:
    """Encode an episode's frames at the end of the current mp4 file (a new file past the size limit)."""
    import imageio_ffmpeg

    files = state.video_files
    if state.video is not None and state.video.path.exists() and state.video.path.stat().st_size > files.limit_bytes:
        state.video.writer.close()
        state.video = None
        files.next_file()
    if state.video is None:
        path = state.out / VIDEO_PATH.format(video_key=IMAGE_KEY, chunk_index=files.chunk, file_index=files.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        height, width = state.features[IMAGE_KEY]["shape"][:2]
        lossless = state.video_codec == "libx264rgb"
        writer = imageio_ffmpeg.write_frames(
            str(path),
            (width, height),
            fps=state.fps,
            codec=state.video_codec,
            pix_fmt_out="rgb24" if lossless else "yuv420p",
            macro_block_size=1,
            output_params=["-g", "2", *(["-crf", "0"] if lossless else [])],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        state.video = _VideoFile(path, writer)
    start = state.video.frames / state.fps
    for data in images:
        state.video.writer.send(np.ascontiguousarray(decode_image(data)))
    state.video.frames += len(images)
    state.video_row = {
        f"videos/{IMAGE_KEY}/chunk_index": files.chunk,
        f"videos/{IMAGE_KEY}/file_index": files.file,
        f"videos/{IMAGE_KEY}/from_timestamp": start,
        f"videos/{IMAGE_KEY}/to_timestamp": state.video.frames / state.fps,
    }


def _close_files(state: _Export) -> None:
    if state.data_writer is not None:
        state.data_writer.close()
        state.data_writer = None
    if state.video is not None:
        state.video.writer.close()
        state.video = None


def _write_meta(state: _Export, meta: DatasetMeta, embodiment: str, document: dict[str, Any], episodes: int) -> None:
    """``info.json``, ``tasks.parquet``, the episodes table and ``stats.json``."""
    episodes_table = pa.Table.from_pylist(
        [{**row, "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0} for row in state.episode_rows]
    )
    path = state.out / EPISODES_PATH.format(chunk_index=0, file_index=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(episodes_table, path)
    pq.write_table(_task_table(state.tasks), state.out / "meta" / "tasks.parquet")
    stats = {name: numbers.document() for name, numbers in state.numbers.items()}
    if state.image_samples:
        stats[IMAGE_KEY] = _image_stats(state.image_samples)
    atomic_write_json(state.out / "meta" / "stats.json", stats, sort_keys=False)
    info = {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": embodiment,
        "total_episodes": episodes,
        "total_frames": state.frames,
        "total_tasks": len(state.tasks),
        "chunks_size": state.data_files.chunks_size,
        "data_files_size_in_mb": round(state.data_files.limit_bytes / 2**20),
        "video_files_size_in_mb": round(state.video_files.limit_bytes / 2**20),
        "fps": state.fps,
        "splits": {"train": f"0:{episodes}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if state.video_codec else None,
        "features": state.features,
        "gea": {
            "embodiment": embodiment,
            "embodiment_document": document,
            "image_format": meta.image_format,
            "source": {"name": meta.info.get("name"), "path": str(meta.root)},
        },
    }
    atomic_write_json(state.out / "meta" / "info.json", info, sort_keys=False)


# ------------------------------------------------------------------------------------------------ import
def _read_tasks(root: Path) -> list[str]:
    """Task strings by task_index from ``meta/tasks.parquet`` (pandas index or a ``task`` column)."""
    table = pq.read_table(root / "meta" / "tasks.parquet")
    if "task" in table.column_names:
        names = table["task"].to_pylist()
    else:
        index_columns = (table.schema.pandas_metadata or {}).get("index_columns", [])
        named = [column for column in index_columns if isinstance(column, str)]
        if not named:
            raise DatasetError(f"{root}/meta/tasks.parquet has neither a task column nor a task index")
        names = table[named[0]].to_pylist()
    tasks = [""] * len(names)
    for name, index in zip(names, table["task_index"].to_pylist(), strict=True):
        if index >= len(tasks):
            tasks.extend([""] * (index + 1 - len(tasks)))
        tasks[index] = name
    return tasks


def _read_episodes_table(root: Path) -> pa.Table:
    files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
    if not files:
        raise DatasetError(f"{root}/meta/episodes holds no chunk-*/file-*.parquet; is it a LeRobot v3 dataset?")
    tables = [pq.read_table(path, columns=None) for path in files]
    columns = [name for name in tables[0].column_names if not name.startswith("stats/")]
    table = pa.concat_tables([t.select(columns) for t in tables], promote_options="default")
    return table.sort_by("episode_index")


def _imported_action(feature: dict[str, Any], root: Path, data_files: list[Path]) -> Any:
    """The action space of a foreign LeRobot dataset, from its ``action`` feature (bounds: ``stats.json``, or
    the data's own extremes when there are no statistics)."""
    dtype, shape = feature["dtype"], list(feature["shape"])
    if dtype.startswith("float"):
        stats_file = root / "meta" / "stats.json"
        stats = json.loads(stats_file.read_text()).get("action", {}) if stats_file.exists() else {}
        if "min" in stats and "max" in stats:
            low, high = np.asarray(stats["min"], np.float64), np.asarray(stats["max"], np.float64)
        else:
            actions = [np.asarray(pq.read_table(path, columns=["action"])["action"].to_pylist()) for path in data_files]
            every = np.concatenate([a.reshape(len(a), -1) for a in actions])
            low, high = every.min(axis=0), every.max(axis=0)
        return ContinuousActions(int(shape[0]), tuple(low.reshape(-1).tolist()), tuple(high.reshape(-1).tolist()))
    if dtype.startswith("int") and shape == [1]:
        names = feature.get("names")
        if not names:
            raise ConfigError(f"{root}: integer actions need their names in info.json (features.action.names)")
        return DiscreteActions(tuple(str(name) for name in names))
    raise ConfigError(f"{root}: cannot import action feature {feature}: only float vectors and named integers")


class _VideoFrames:
    """Frames of one LeRobot video feature, read sequentially file by file (episodes come in file order)."""

    def __init__(self, root: Path, info: dict[str, Any], key: str) -> None:
        self.root, self.info, self.key = root, info, key
        self.fps = float(info["features"][key].get("info", {}).get("video.fps", info["fps"]))
        self._file: tuple[int, int] | None = None
        self._frames: Iterator[np.ndarray] = iter(())
        self._position = 0

    def episode(self, row: dict[str, Any], length: int) -> list[np.ndarray]:
        """The ``length`` frames of the episode described by episodes-table ``row``."""
        import imageio_ffmpeg

        where = (int(row[f"videos/{self.key}/chunk_index"]), int(row[f"videos/{self.key}/file_index"]))
        start = round(float(row[f"videos/{self.key}/from_timestamp"]) * self.fps)
        if where != self._file or start < self._position:
            path = self.root / self.info["video_path"].format(
                video_key=self.key, chunk_index=where[0], file_index=where[1]
            )
            reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
            width, height = next(reader)["size"]
            self._frames = (np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader)
            self._file, self._position = where, 0
        for _ in range(start - self._position):
            next(self._frames)
        frames = [next(self._frames) for _ in range(length)]
        self._position = start + length
        return frames


def import_lerobot(
    source: str | Path,
    out: str | Path,
    embodiment: str | None = None,
    image_key: str | None = None,
    state_key: str | None = STATE_KEY,
    task: str | None = None,
    image_format: str = "png",
    shard_max_rows: int = 10_000,
) -> DatasetMeta:
    """Convert a local LeRobotDataset v3.x folder into an episode dataset at ``out``.

    ``image_key``: the camera to keep (default: the only image/video feature, or ``observation.image``);
    images already in ``image_format`` are kept byte for byte, others (and video frames) are re-encoded.
    ``state_key`` becomes ``proprio``. Without ``next.*`` columns, rewards are 0, success is False and the
    last step of each episode counts as truncated. A dataset written by ``export_lerobot`` comes back with the
    same rows, episode metadata and embodiment entry.
    """
    root = Path(source)
    info_file = root / "meta" / "info.json"
    if not info_file.exists():
        raise DatasetError(f"{root} is not a LeRobot dataset (no {info_file})")
    info = json.loads(info_file.read_text())
    version = str(info.get("codebase_version", ""))
    if not version.startswith("v3"):
        raise DatasetError(
            f"{root} is a LeRobot {version or 'unknown-version'} dataset; convert it to v3.0 first with LeRobot's "
            "`python -m lerobot.datasets.v30.convert_dataset_v21_to_v30`"
        )
    features: dict[str, Any] = info["features"]
    gea_info = info.get("gea", {})
    cameras = sorted(name for name, f in features.items() if f["dtype"] in ("image", "video"))
    if image_key is None:
        image_key = IMAGE_KEY if IMAGE_KEY in cameras else (cameras[0] if len(cameras) == 1 else None)
        if image_key is None and cameras:
            raise ConfigError(f"{root} has cameras {cameras}; choose one with image_key=")
    elif image_key not in cameras:
        raise ConfigError(f"{root} has no camera {image_key!r}; it has {cameras}")
    if "action" not in features:
        raise ConfigError(f"{root} has no 'action' feature")
    episodes = _read_episodes_table(root).to_pylist()
    data_files = list(
        dict.fromkeys(
            root
            / info["data_path"].format(chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))
            for row in episodes
        )
    )
    if "embodiment_document" in gea_info:
        document = gea_info["embodiment_document"]
        action = action_from_document(document["action"])
    else:
        action = _imported_action(features["action"], root, data_files)
        document = {
            "domain": "manipulation",
            "description": f"imported from LeRobot dataset {root.name} (robot {info.get('robot_type')})",
            "simulator": "unknown",
            "camera": image_key or "none",
            "action": action_document(action),
        }
    embodiment = embodiment or gea_info.get("embodiment") or f"lerobot:{root.name}"
    tasks = _read_tasks(root)
    writer = DatasetWriter(
        out, image_format, shard_max_rows, name=Path(out).name, source={"kind": "lerobot", "detail": str(root)}
    )
    writer.add_embodiment(embodiment, document)
    video = _VideoFrames(root, info, image_key) if image_key and features[image_key]["dtype"] == "video" else None
    data_columns = [
        name
        for name in (image_key, state_key, "action", *OUTCOME_FEATURES, "frame_index", "episode_index", "task_index")
        if name is not None and name in features and features[name]["dtype"] != "video"
    ]
    by_index = {int(row["episode_index"]): row for row in episodes}
    added = 0
    for index, table in _episode_tables(data_files, data_columns):
        row = by_index.get(index)
        if row is None:
            raise DatasetError(f"{root}: data rows of episode {index}, which meta/episodes does not list")
        frames = video.episode(row, table.num_rows) if video is not None else None
        label = row.get("gea/task") or task or root.name
        episode = _to_episode(table, frames, embodiment, label, row, action, image_key, state_key, tasks, image_format)
        writer.add_episode(episode)
        added += 1
    if added != len(episodes):
        raise DatasetError(f"{root}: meta/episodes lists {len(episodes)} episodes, the data files hold {added}")
    return writer.close()


def _episode_tables(data_files: list[Path], columns: list[str]) -> Iterator[tuple[int, pa.Table]]:
    """Each episode's rows (ordered by frame index), streaming the data files a row group at a time."""
    current: int | None = None
    pending: list[pa.Table] = []
    for path in data_files:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=columns)
            indices = np.asarray(table["episode_index"].to_pylist(), np.int64)
            cuts = [0, *(np.flatnonzero(np.diff(indices)) + 1).tolist(), len(indices)]
            for start, stop in itertools.pairwise(cuts):
                if start == stop:
                    continue
                index = int(indices[start])
                if current is not None and index != current:
                    yield current, pa.concat_tables(pending).sort_by("frame_index")
                    pending = []
                current = index
                pending.append(table.slice(start, stop - start))
    if current is not None:
        yield current, pa.concat_tables(pending).sort_by("frame_index")


def _to_episode(
    table: pa.Table,
    frames: list[np.ndarray] | None,
    embodiment: str,
    label: str,
    row: dict[str, Any],
    action: Any,
    image_key: str | None,
    state_key: str | None,
    tasks: list[str],
    image_format: str,
) -> Episode:
    """An ``Episode`` from one LeRobot episode's rows (and decoded video frames)."""
    rows = table.to_pydict()
    length = table.num_rows
    episode = Episode(embodiment, label, row.get("gea/seed"), int(row.get("gea/attempt") or 0))
    columns = episode.columns
    columns["step"] = list(range(length))
    columns["embodiment"] = [embodiment] * length
    columns["task"] = [label] * length
    columns["instruction"] = [tasks[index] for index in rows["task_index"]]
    if frames is not None:
        columns["image"] = [encode_image(frame, image_format) for frame in frames]
    elif image_key is not None:
        columns["image"] = [_image_bytes(value, image_format) for value in rows[image_key]]
    else:
        columns["image"] = [None] * length
    state = rows.get(state_key) if state_key else None
    columns["proprio"] = [None if v is None else [float(x) for x in v] for v in state] if state else [None] * length
    actions = rows["action"]
    if isinstance(action, ContinuousActions):
        columns["action"] = [[float(x) for x in np.asarray(v).reshape(-1)] for v in actions]
        columns["action_index"], columns["action_text"] = [None] * length, [None] * length
    elif isinstance(action, DiscreteActions):
        indices = [int(np.asarray(v).reshape(-1)[0]) for v in actions]
        columns["action"], columns["action_index"] = [None] * length, indices
        columns["action_text"] = [action.names[i] for i in indices]
    else:
        columns["action"], columns["action_index"], columns["action_text"] = [None] * length, [None] * length, actions
    last = [False] * (length - 1) + [True]
    done = rows.get("next.done", last)
    columns["reward"] = [float(v) for v in rows.get("next.reward", [0.0] * length)]
    if "next.terminated" in rows and "next.truncated" in rows:
        columns["terminated"], columns["truncated"] = rows["next.terminated"], rows["next.truncated"]
    elif "next.done" in rows:
        columns["terminated"], columns["truncated"] = [bool(v) for v in done], [False] * length
    else:
        columns["terminated"], columns["truncated"] = [False] * length, last
    columns["success"] = [bool(v) for v in rows.get("next.success", [False] * length)]
    return episode


def _image_bytes(value: Any, image_format: str) -> bytes | None:
    """The stored bytes of an HF ``Image`` value, re-encoded only when not already in ``image_format``."""
    if value is None:
        return None
    data = value["bytes"] if isinstance(value, dict) else value
    if data is None:
        raise DatasetError("an image refers to an external file (path) instead of embedded bytes; embed images first")
    if data.startswith(IMAGE_MAGIC[image_format]):
        return bytes(data)
    return encode_image(decode_image(data), image_format)
