"""The checks run every time a dataset is opened, and the one way shards are read: cheap, and loud on damage.

Opening a dataset checks every committed shard against ``meta/`` without reading its data: its
``meta/checksums.json`` entry exists and the file exists with the recorded size. A shard whose modification time
differs from the one recorded when it was written has been rewritten or copied since: its Parquet footer must
parse, its row count and row groups must match ``meta/episodes.parquet``, and its sha256 is compared; a match is
remembered in ``meta/verified.json`` so a copied dataset is hashed once. A byte that rots in place keeps size and
time; the shards carry Parquet page checksums (CRC32) that every read here verifies (a damaged footer fails when
the shard is opened for reading), and ``gea dataset verify PATH`` checks every footer and every shard's sha256.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gea.errors import DatasetError
from gea.files import atomic_write_json, sha256_file
from gea.rollouts.dataset.layout import meta_path

VERIFIED_FILE = "verified.json"


def repair_hint(root: Path, verified: bool = False) -> str:
    """What to do about a damaged dataset at ``root`` (``verified``: after a full ``gea dataset verify``)."""
    fix = (
        f"set the damaged shards aside with `gea dataset repair {root}` (their episodes leave the dataset; "
        f"`gea collect ... out={root} resume=true` collects replacements), or collect the dataset again"
    )
    return f"Fix: {fix}" if verified else f"Fix: check every shard with `gea dataset verify {root}`, then {fix}"


class DamagedDatasetError(DatasetError):
    """A dataset whose shards fail a check; ``problems`` names each damaged file and what is wrong with it."""

    def __init__(self, root: Path, problems: Sequence[str]) -> None:
        self.root, self.problems = root, list(problems)
        listed = "\n  ".join(self.problems)
        super().__init__(f"dataset {root} is damaged:\n  {listed}\n{repair_hint(root)}")

    def __reduce__(self) -> tuple[type[DamagedDatasetError], tuple[Path, list[str]]]:
        return type(self), (self.root, self.problems)  # crosses process boundaries intact


def damaged(root: Path, problems: Sequence[str]) -> DamagedDatasetError:
    """The error for a dataset whose shards fail a check, listing each problem and the fix."""
    return DamagedDatasetError(root, problems)


def _rows_per_shard(episodes: pa.Table) -> dict[str, int]:
    """Rows per shard according to ``meta/episodes.parquet`` (plain or dictionary-encoded shard names)."""
    totals = episodes.group_by("shard").aggregate([("length", "sum")])
    return dict(zip(totals["shard"].to_pylist(), totals["length_sum"].to_pylist(), strict=True))


def _rows_per_group(episodes: pa.Table, shards: set[str]) -> dict[str, dict[int, int]]:
    """Rows per (shard, row group) of ``shards`` according to ``meta/episodes.parquet``."""
    totals = episodes.group_by(["shard", "row_group"]).aggregate([("length", "sum")]).to_pydict()
    per_group: dict[str, dict[int, int]] = defaultdict(dict)
    for shard, group, length in zip(totals["shard"], totals["row_group"], totals["length_sum"], strict=True):
        if shard in shards:
            per_group[shard][int(group)] = int(length)
    return per_group


def footer_problems(path: Path, entry: dict[str, Any], rows: int, groups: dict[int, int]) -> list[str]:
    """What is wrong with one shard's size and Parquet footer, compared with its metadata (nothing read but those)."""
    if not path.is_file():
        return [f"{path}: missing shard"]
    size = path.stat().st_size
    if "bytes" in entry and size != entry["bytes"]:
        return [f"{path}: {size} bytes, but meta/checksums.json recorded {entry['bytes']} (truncated or overwritten)"]
    try:
        metadata = pq.read_metadata(path)
    except (OSError, pa.ArrowException) as error:
        return [f"{path}: unreadable Parquet footer ({error})"]
    if metadata.num_rows != entry["rows"] or metadata.num_rows != rows:
        return [
            f"{path}: {metadata.num_rows} rows, but meta/checksums.json says {entry['rows']} and "
            f"meta/episodes.parquet {rows}"
        ]
    for group, expected in sorted(groups.items()):
        found = metadata.row_group(group).num_rows if group < metadata.num_row_groups else 0
        if found != expected:
            return [f"{path}: row group {group} holds {found} rows, but meta/episodes.parquet says {expected}"]
    return []


def _read_verified(root: Path) -> dict[str, Any]:
    path = meta_path(root, VERIFIED_FILE)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a cache: absent or unreadable means "nothing verified yet"
    return document if isinstance(document, dict) else {}


def _unchanged(stat: tuple[int, int], entry: dict[str, Any], verified: dict[str, Any]) -> bool:
    """Whether a shard's (size, mtime) is the one recorded at write time or at its last successful hash."""
    if (entry.get("bytes"), entry.get("mtime_ns")) == stat:
        return True
    return (verified.get("sha256"), verified.get("bytes"), verified.get("mtime_ns")) == (entry["sha256"], *stat)


def shard_problems(
    root: Path, episodes: pa.Table, checksums: dict[str, dict[str, Any]], hash_modified: bool = True
) -> list[str]:
    """Problems of every committed shard: missing checksum entry, missing file, size, and for shards modified
    since they were recorded (always, without ``hash_modified``) footer, rows, row groups and (with
    ``hash_modified``) sha256. Empty when all is well.

    ``episodes`` needs the ``shard``, ``row_group`` and ``length`` columns (``read_episode_index`` is enough).
    Opening a dataset whose shards keep the size and modification time recorded when they were written (or
    when last hashed) costs one ``stat`` per shard: 22,000 shards (GEA's 2.2M trajectories) stay within a
    second; their footers are parsed, and their pages checked, when they are read (``open_shard``).
    """
    per_shard = _rows_per_shard(episodes)
    verified = _read_verified(root) if hash_modified else {}
    newly_verified: dict[str, Any] = {}
    problems: list[str] = []
    changed: dict[str, tuple[int, int]] = {}
    folder = os.fspath(root)
    for shard in sorted(per_shard):
        entry = checksums.get(shard)
        if entry is None:
            problems.append(f"{root / shard}: no entry in meta/checksums.json")
            continue
        path = os.path.join(folder, shard)  # plain strings: 22,000 pathlib objects alone cost a second
        try:
            status = os.stat(path)
        except OSError:
            problems.append(f"{path}: missing shard")
            continue
        stat = (status.st_size, status.st_mtime_ns)
        if "bytes" in entry and stat[0] != entry["bytes"]:
            problems.append(
                f"{path}: {stat[0]} bytes, but meta/checksums.json recorded {entry['bytes']} (truncated or overwritten)"
            )
        elif not hash_modified or not _unchanged(stat, entry, verified.get(shard, {})):
            changed[shard] = stat
    per_group = _rows_per_group(episodes, set(changed)) if changed else {}
    for shard, stat in changed.items():
        path, entry = root / shard, checksums[shard]
        found = footer_problems(path, entry, per_shard[shard], per_group[shard])
        problems += found
        if found or not hash_modified:
            continue
        if sha256_file(path) != entry["sha256"]:
            problems.append(f"{path}: corrupt shard (rewritten since it was recorded; its sha256 differs from meta/)")
        else:
            newly_verified[shard] = {"sha256": entry["sha256"], "bytes": stat[0], "mtime_ns": stat[1]}
    if newly_verified:
        with contextlib.suppress(OSError):  # a read-only dataset: its shards are hashed again next time
            atomic_write_json(meta_path(root, VERIFIED_FILE), {**verified, **newly_verified})
    return problems


def open_shard(path: Path, root: Path) -> pq.ParquetFile:
    """A shard opened for reading with page-checksum verification; a damaged one raises ``DatasetError``."""
    try:
        return pq.ParquetFile(path, page_checksum_verification=True)
    except (OSError, pa.ArrowException) as error:
        raise damaged(root, [f"{path}: unreadable Parquet file ({error})"]) from error


def read_row_group(
    parquet: pq.ParquetFile,
    path: Path,
    root: Path,
    group: int,
    columns: Sequence[str] | None = None,
    use_threads: bool = True,
) -> pa.Table:
    """Row group ``group`` of an opened shard; a page that fails its checksum or decoding raises ``DatasetError``.

    ``use_threads``: decode its columns on Arrow's thread pool (False: in the calling thread).
    """
    try:
        return parquet.read_row_group(group, columns=list(columns) if columns else None, use_threads=use_threads)
    except (OSError, pa.ArrowException) as error:
        raise damaged(root, [f"{path}: row group {group} is unreadable ({error})"]) from error
