"""Read and write a dataset's ``meta/`` files; ``episodes.parquet`` is the commit point of every shard.

``DatasetMeta.load`` is how every reader opens a dataset: unreadable metadata files and damaged shards (see
``gea.rollouts.dataset.integrity``) raise ``DatasetError`` naming the file and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gea.errors import DatasetError
from gea.files import atomic_write
from gea.rollouts.dataset.integrity import damaged, shard_problems
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


@dataclass
class DatasetMeta:
    """A dataset's metadata: ``info.json``, the per-episode table and the shard checksums."""

    root: Path
    info: dict[str, Any]
    episodes: pa.Table
    checksums: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, root: str | Path, check_shards: bool = True) -> DatasetMeta:
        """Read the metadata of the dataset at ``root``, then (``check_shards``) check every shard cheaply
        against it; raise ``DatasetError`` naming the file and the fix if it is not a sound dataset."""
        root = Path(root)
        info = load_info(root)
        episodes = read_episodes(root)
        checksums = read_checksums(root)
        if check_shards:
            problems = shard_problems(root, episodes, checksums)
            if problems:
                raise damaged(root, problems)
        return cls(root, info, episodes, checksums)

    @property
    def embodiments(self) -> dict[str, dict[str, Any]]:
        """Each embodiment's ``info.json`` entry (domain and action space)."""
        return dict(self.info.get("embodiments", {}))

    def image_size(self, embodiment: str) -> tuple[int, int] | None:
        """The ``(height, width)`` of ``embodiment``'s images as collected, or None when not recorded."""
        size = self.embodiments.get(embodiment, {}).get("image_size")
        return (int(size[0]), int(size[1])) if size else None

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
    info = read_json_object(info_file, "collect the dataset again")
    if info.get("format") != FORMAT_NAME:
        raise DatasetError(f"{info_file}: format is {info.get('format')!r}, expected {FORMAT_NAME!r}")
    return info


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """A metadata file that must hold one JSON object; anything else raises ``DatasetError`` naming ``fix``."""
    try:
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{path} is not readable JSON ({error}); {fix}") from error
    if not isinstance(document, dict):
        raise DatasetError(f"{path} must hold a JSON object, not {type(document).__name__}; {fix}")
    return document


def read_checksums(root: Path) -> dict[str, dict[str, Any]]:
    """``meta/checksums.json``: ``{shard: {sha256, rows, bytes, ...}}`` (empty if nothing is committed yet)."""
    path = meta_path(root, "checksums.json")
    if not path.exists():
        return {}
    fix = f"`gea dataset repair {root}` rebuilds it from the shards"
    checksums = read_json_object(path, fix)
    for shard, entry in checksums.items():
        valid = isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and isinstance(entry.get("rows"), int)
        if not valid:
            raise DatasetError(f"{path}: the entry of {shard!r} lacks a sha256 text and a row count; {fix}")
    return checksums


def read_episodes(root: Path) -> pa.Table:
    """The committed episodes table (empty if nothing is committed yet)."""
    path = meta_path(root, "episodes.parquet")
    if not path.exists():
        return EPISODES_SCHEMA.empty_table()
    try:
        return pq.read_table(path, schema=EPISODES_SCHEMA)
    except (OSError, pa.ArrowException) as error:
        raise DatasetError(
            f"{path} is unreadable ({error}); `gea dataset repair {root}` rebuilds it from the shards' own "
            f"episode lists"
        ) from error


def read_episode_index(root: Path) -> pa.Table:
    """The ``embodiment``, ``shard``, ``row_group`` and ``length`` columns of ``meta/episodes.parquet``, strings
    dictionary-encoded in one chunk: what readers need to find rows, without materializing every episode's text
    (2.2M episodes: a few tens of MB and well under a second)."""
    path = meta_path(root, "episodes.parquet")
    columns = ["embodiment", "shard", "row_group", "length"]
    if not path.exists():
        return EPISODES_SCHEMA.empty_table().select(columns)
    try:
        table = pq.read_table(path, columns=columns, read_dictionary=["embodiment", "shard"])
    except (OSError, pa.ArrowException) as error:
        raise DatasetError(
            f"{path} is unreadable ({error}); `gea dataset repair {root}` rebuilds it from the shards' own "
            f"episode lists"
        ) from error
    return table.unify_dictionaries().combine_chunks()


def write_episodes(root: Path, episodes: pa.Table) -> None:
    """Atomically replace ``meta/episodes.parquet``; this commits every shard it references."""
    atomic_write(meta_path(root, "episodes.parquet"), lambda path: pq.write_table(episodes, path))
