"""Read and write a dataset's ``meta/`` files; ``episodes.parquet`` is the commit point of every shard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gea.errors import GEAError
from gea.files import atomic_write
from gea.rollouts.dataset.layout import FORMAT_NAME, meta_path

EPISODES_SCHEMA = pa.schema(
    [
        pa.field("episode_index", pa.int64(), nullable=False),
        pa.field("embodiment", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("row_group", pa.int32(), nullable=False),
        pa.field("row_start", pa.int64(), nullable=False),
        pa.field("length", pa.int32(), nullable=False),
        pa.field("return", pa.float64(), nullable=False),
        pa.field("success", pa.bool_(), nullable=False),
        pa.field("seed", pa.int64()),
        pa.field("attempt", pa.int32(), nullable=False),
    ]
)


class DatasetError(GEAError, ValueError):
    """A dataset folder that is missing, incomplete or corrupt."""


@dataclass
class DatasetMeta:
    """A dataset's metadata: ``info.json``, the per-episode table and the shard checksums."""

    root: Path
    info: dict[str, Any]
    episodes: pa.Table
    checksums: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, root: str | Path) -> DatasetMeta:
        """Read the metadata of the dataset at ``root``; raise ``DatasetError`` if it is not one."""
        root = Path(root)
        info = load_info(root)
        episodes = read_episodes(root)
        checksums_file = meta_path(root, "checksums.json")
        checksums = json.loads(checksums_file.read_text()) if checksums_file.exists() else {}
        return cls(root, info, episodes, checksums)

    @property
    def embodiments(self) -> dict[str, dict[str, Any]]:
        """Each embodiment's ``info.json`` entry (domain and action space)."""
        return dict(self.info.get("embodiments", {}))

    @property
    def image_format(self) -> str:
        """Encoding of the ``image`` column."""
        return str(self.info.get("image_format", "png"))

    @property
    def num_episodes(self) -> int:
        """Committed episodes."""
        return self.episodes.num_rows

    @property
    def num_steps(self) -> int:
        """Committed steps (rows)."""
        return int(pc.sum(self.episodes["length"]).as_py() or 0)

    def shard_files(self) -> list[str]:
        """Committed shard files, relative to the root, in order."""
        return sorted(set(self.episodes["shard"].to_pylist()))


def load_info(root: Path) -> dict[str, Any]:
    """``meta/info.json`` of the dataset at ``root``; raise ``DatasetError`` if it is not a gea episode dataset."""
    info_file = meta_path(root, "info.json")
    if not info_file.exists():
        raise DatasetError(
            f"{root} is not a gea episode dataset (no {info_file}); create one with `gea collect out=...`"
        )
    info = json.loads(info_file.read_text())
    if info.get("format") != FORMAT_NAME:
        raise DatasetError(f"{info_file}: format is {info.get('format')!r}, expected {FORMAT_NAME!r}")
    return info


def read_episodes(root: Path) -> pa.Table:
    """The committed episodes table (empty if nothing is committed yet)."""
    path = meta_path(root, "episodes.parquet")
    if not path.exists():
        return EPISODES_SCHEMA.empty_table()
    return pq.read_table(path, schema=EPISODES_SCHEMA)


def write_episodes(root: Path, episodes: pa.Table) -> None:
    """Atomically replace ``meta/episodes.parquet``; this commits every shard it references."""
    atomic_write(meta_path(root, "episodes.parquet"), lambda path: pq.write_table(episodes, path))
