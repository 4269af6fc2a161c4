"""Write episodes into Parquet shards with crash-safe commits; reopen a dataset to append after a crash."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gea.files import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    remove_temporary_files,
    sha256_file,
)
from gea.rollouts.dataset.card import render_card
from gea.rollouts.dataset.episode import Episode
from gea.rollouts.dataset.images import check_image_format
from gea.rollouts.dataset.integrity import damaged, shard_problems
from gea.rollouts.dataset.layout import FORMAT_NAME, SHARD_EPISODES_KEY, data_dir, meta_path, shard_name, shard_number
from gea.rollouts.dataset.meta import (
    EPISODES_SCHEMA,
    DatasetError,
    DatasetMeta,
    read_checksums,
    read_episodes,
    read_json_object,
    write_episodes,
)
from gea.rollouts.dataset.schema import ROW_SCHEMA, SCHEMA_VERSION, features
from gea.rollouts.dataset.stats import compute_stats

METADATA_SHARE = 0.1  # at most about this share of the writing time goes to rewriting the metadata
QUICK_METADATA_S = 0.05  # rewrites faster than this happen at every commit


class DatasetWriter:
    """Buffers episodes and commits them a shard at a time.

    A shard is written to a temporary file, fsynced and renamed, so a shard file is either complete or
    absent; then ``meta/checksums.json`` and ``meta/episodes.parquet`` are rewritten atomically. Each
    shard's footer lists its episodes, so reopening with ``append=True`` after a crash deletes temporary
    files and adopts a complete shard the metadata missed. A crash loses at most the buffered episodes.
    The metadata grows with the dataset (2.2M episodes: 0.8 s to rewrite), so once a rewrite is slow it is
    repeated at most every ``1 / METADATA_SHARE`` times its duration (shards in between are recorded by the
    next rewrite, by ``close``, or adopted after a crash): metadata stays a bounded share of writing time.
    Episodes never straddle a row group, and row groups hold about ``row_group_rows`` rows.
    """

    def __init__(
        self,
        root: str | Path,
        image_format: str = "png",
        shard_max_rows: int = 10_000,
        row_group_rows: int = 1_000,
        append: bool = False,
        name: str | None = None,
        source: dict[str, Any] | None = None,
    ) -> None:
        self.root = Path(root)
        self.shard_max_rows = shard_max_rows
        self.row_group_rows = row_group_rows
        self._pending: list[Episode] = []
        self._pending_rows = 0
        self._episodes = read_episodes(self.root)
        info_file = meta_path(self.root, "info.json")
        if not append and (self._episodes.num_rows or any(data_dir(self.root).glob("*.parquet"))):
            raise DatasetError(
                f"{self.root} already holds episodes; pass resume=true to continue collecting into it, "
                "or choose another output folder"
            )
        if info_file.exists() and append:
            self.info: dict[str, Any] = read_json_object(info_file, "collect into a new output folder")
            if self.info.get("image_format") != image_format:
                raise DatasetError(
                    f"{self.root} stores {self.info.get('image_format')} images; cannot append {image_format} images"
                )
        else:
            self.info = {
                "format": FORMAT_NAME,
                "schema_version": SCHEMA_VERSION,
                "image_format": check_image_format(image_format),
                "name": name or self.root.name,
                "source": source or {},
                "embodiments": {},
            }
        self._checksums = self._load_checksums()
        self._unrecorded = 0  # shards committed to disk but not yet listed in meta/
        self._record_seconds, self._recorded_at = 0.0, time.monotonic()
        self._info_embodiments: dict[str, Any] = {}
        if append:  # appending to a damaged dataset would bury the damage under new episodes
            problems = shard_problems(self.root, self._episodes, self._checksums)
            if problems:
                raise damaged(self.root, problems)
        self._shard_number = max((shard_number(name) + 1 for name in self._checksums), default=0)
        if append:
            self._recover()
        self._write_info()
        atomic_write_json(meta_path(self.root, "features.json"), features())

    @property
    def committed(self) -> pa.Table:
        """The committed episodes (``meta/episodes.parquet`` rows)."""
        return self._episodes

    def add_embodiment(self, embodiment: str, document: dict[str, Any]) -> None:
        """Record an embodiment's ``info.json`` entry (see ``layout.embodiment_document``)."""
        known = self.info["embodiments"].get(embodiment)
        if known is not None and known["action"] != document["action"]:
            raise DatasetError(f"{embodiment}: action space differs from the one already in {self.root}")
        self.info["embodiments"][embodiment] = document

    def add_episode(self, episode: Episode) -> None:
        """Buffer an episode; commit a shard once ``shard_max_rows`` rows are buffered."""
        if episode.embodiment not in self.info["embodiments"]:
            raise DatasetError(f"call add_embodiment({episode.embodiment!r}, ...) before adding its episodes")
        if episode.length == 0:
            raise DatasetError(f"{episode.embodiment}: an episode needs at least one step")
        self._pending.append(episode)
        self._pending_rows += episode.length
        if self._pending_rows >= self.shard_max_rows:
            self.commit()

    def commit(self) -> None:
        """Write the buffered episodes as one shard and commit it."""
        if not self._pending:
            return
        name = shard_name(self._shard_number)
        first_index = int(self._episodes["episode_index"][-1].as_py()) + 1 if self._episodes.num_rows else 0
        groups, rows = self._plan_row_groups(name, first_index)
        if self.info["embodiments"] != self._info_embodiments:
            self._write_info()  # embodiments first, so that a recovered shard's embodiments are known
        self._write_shard(self.root / name, groups, rows)
        self._add_committed(name, rows)
        self._pending, self._pending_rows = [], 0

    def close(self) -> DatasetMeta:
        """Commit what is buffered, record every shard in ``meta/``, then write action statistics and the card."""
        self.commit()
        if self._unrecorded:
            self._record()
        meta = DatasetMeta.load(self.root)
        stats = compute_stats(meta)
        atomic_write_json(meta_path(self.root, "stats.json"), stats)
        atomic_write_text(self.root / "README.md", render_card(meta, stats))
        return meta

    def _plan_row_groups(self, name: str, first_index: int) -> tuple[list[list[pa.Table]], list[dict[str, Any]]]:
        """Group pending episodes into row groups; return the groups and each episode's metadata row."""
        groups: list[list[pa.Table]] = [[]]
        group_rows = 0
        rows: list[dict[str, Any]] = []
        row = 0
        for i, episode in enumerate(self._pending):
            if group_rows and group_rows + episode.length > self.row_group_rows:
                groups.append([])
                group_rows = 0
            groups[-1].append(episode.to_table(first_index + i))
            rows.append(
                {
                    "episode_index": first_index + i,
                    "embodiment": episode.embodiment,
                    "task": episode.task,
                    "shard": name,
                    "row_group": len(groups) - 1,
                    "row_start": row,
                    "length": episode.length,
                    "return": episode.total_return,
                    "success": episode.success,
                    "seed": episode.seed,
                    "attempt": episode.attempt,
                }
            )
            group_rows += episode.length
            row += episode.length
        return groups, rows

    def _write_shard(self, path: Path, groups: list[list[pa.Table]], rows: list[dict[str, Any]]) -> None:
        """Write a shard atomically; its footer also lists its episodes, so it can be recovered alone."""
        schema = ROW_SCHEMA.with_metadata({**ROW_SCHEMA.metadata, SHARD_EPISODES_KEY: json.dumps(rows).encode()})

        def write(temporary: Path) -> None:
            # no min/max statistics of the image column: whole frames, copied into every page header and the footer
            statistics = [name for name in schema.names if name != "image"]
            with pq.ParquetWriter(temporary, schema, write_page_checksum=True, write_statistics=statistics) as parquet:
                for tables in groups:
                    table = pa.concat_tables(tables).replace_schema_metadata(schema.metadata)
                    parquet.write_table(table, row_group_size=table.num_rows)

        atomic_write(path, write)

    def _add_committed(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Record a complete shard in the checksums and the episodes table (the commit point)."""
        path = self.root / name
        status = path.stat()
        self._checksums[name] = {
            "sha256": sha256_file(path),
            "rows": sum(row["length"] for row in rows),
            "bytes": status.st_size,
            "mtime_ns": status.st_mtime_ns,  # a later open hashes the shard again only if this changed
        }
        self._shard_number = max(self._shard_number, shard_number(name) + 1)
        new = pa.Table.from_pylist(rows, schema=EPISODES_SCHEMA)
        self._episodes = pa.concat_tables([self._episodes, new])
        self._unrecorded += 1
        slow = self._record_seconds >= QUICK_METADATA_S
        if not slow or time.monotonic() - self._recorded_at >= self._record_seconds / METADATA_SHARE:
            self._record()

    def _record(self) -> None:
        """Rewrite ``meta/checksums.json``, ``info.json`` and ``episodes.parquet`` (the commit point)."""
        began = time.monotonic()
        atomic_write_json(meta_path(self.root, "checksums.json"), self._checksums)
        self._write_info()
        write_episodes(self.root, self._episodes)
        self._recorded_at = time.monotonic()
        self._record_seconds, self._unrecorded = self._recorded_at - began, 0

    def _load_checksums(self) -> dict[str, dict[str, Any]]:
        checksums = read_checksums(self.root)
        committed = set(self._episodes["shard"].to_pylist())
        return {name: entry for name, entry in checksums.items() if name in committed}

    def _recover(self) -> None:
        """Delete temporary files; adopt complete shards that a crash left out of the metadata."""
        remove_temporary_files(self.root)
        folder = data_dir(self.root)
        listed = set(self._episodes["shard"].to_pylist())
        for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
            name = f"{folder.name}/{path.name}"
            if name not in listed:
                self._add_committed(name, shard_episode_rows(path, name, self.root))
        if self._unrecorded:
            self._record()

    def _write_info(self) -> None:
        self.info["total_episodes"] = self._episodes.num_rows
        self.info["total_steps"] = int(pc.sum(self._episodes["length"]).as_py() or 0)
        self.info["shards"] = len(self._checksums)
        atomic_write_json(meta_path(self.root, "info.json"), self.info)
        self._info_embodiments = json.loads(json.dumps(self.info["embodiments"]))  # a copy as written


def shard_episode_rows(path: Path, name: str, root: Path) -> list[dict[str, Any]]:
    """The ``meta/episodes.parquet`` rows a complete shard lists in its own footer (for crash recovery)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        return [{**row, "shard": name} for row in json.loads(metadata[SHARD_EPISODES_KEY])]
    except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as error:
        raise damaged(root, [f"{path}: not a complete shard of this dataset ({error!r})"]) from error
