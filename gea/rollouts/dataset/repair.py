"""``gea dataset repair PATH``: set damaged shards aside and make the metadata describe what is left.

Nothing is deleted: damaged shards and unreadable metadata files move to ``PATH/quarantine/``. Every shard is
checked in full (sha256 against ``meta/checksums.json``, or, where no trusted checksum is left, by reading every
page against its CRC). Intact shards stay; when ``meta/episodes.parquet`` or ``meta/checksums.json`` was
unreadable, both are rebuilt from the episode list each shard keeps in its own footer. The episodes of the
shards set aside leave the dataset and are listed in ``meta/dropped.json``; ``gea collect ... resume=true``
collects them again (same attempts, so the same seeds and, with deterministic experts, the same episodes).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from gea.errors import DatasetError
from gea.files import atomic_write_json, sha256_file
from gea.rollouts.dataset.integrity import (
    VERIFIED_FILE,
    DamagedDatasetError,
    footer_problems,
    open_shard,
    read_row_group,
)
from gea.rollouts.dataset.layout import data_dir, meta_path
from gea.rollouts.dataset.meta import DatasetMeta, read_checksums, read_episodes, read_json_object, write_episodes
from gea.rollouts.dataset.writer import DatasetWriter, shard_episode_rows

QUARANTINE_DIR = "quarantine"
DROPPED_FILE = "dropped.json"


@dataclass
class RepairReport:
    """What ``repair`` set aside and what the dataset holds afterwards."""

    quarantined: dict[str, str] = field(default_factory=dict)  # file -> why
    dropped: list[dict[str, object]] = field(default_factory=list)  # the removed episodes' metadata rows
    rebuilt: list[str] = field(default_factory=list)  # metadata files rebuilt from the shards
    meta: DatasetMeta | None = None


def _quarantine(root: Path, path: Path, reason: str, report: RepairReport) -> None:
    """Move ``path`` into ``root/quarantine/`` (never overwriting an earlier one) and note why."""
    folder = root / QUARANTINE_DIR
    folder.mkdir(exist_ok=True)
    target, number = folder / path.name, 1
    while target.exists():
        target, number = folder / f"{path.stem}.{number}{path.suffix}", number + 1
    os.replace(path, target)
    report.quarantined[str(path)] = f"{reason} (moved to {target})"


def _fully_readable(path: Path, root: Path) -> str | None:
    """None if every page of the shard decodes and passes its checksum, else why not."""
    try:
        parquet = open_shard(path, root)
        for group in range(parquet.num_row_groups):
            read_row_group(parquet, path, root, group)
    except DamagedDatasetError as error:
        return error.problems[0].split(": ", 1)[1]
    return None


def _readable_metadata(root: Path, report: RepairReport) -> tuple[pa.Table, dict[str, dict[str, object]]]:
    """The episodes table and checksums; if either is unreadable, both are set aside to be rebuilt."""
    try:
        return read_episodes(root), read_checksums(root)
    except DatasetError as error:
        for name in ("episodes.parquet", "checksums.json"):
            path = meta_path(root, name)
            if path.exists():
                _quarantine(root, path, f"rebuilt from the shards' footers after: {error}".splitlines()[0], report)
                report.rebuilt.append(str(path))
        return read_episodes(root), {}


def repair(root: str | Path) -> RepairReport:
    """Set damaged shards and unreadable metadata of the dataset at ``root`` aside; rewrite its metadata."""
    root = Path(root)
    info_file = meta_path(root, "info.json")
    if not info_file.exists():
        raise DatasetError(f"{root} is not a gea episode dataset (no {info_file}); nothing to repair")
    info = read_json_object(info_file, "it cannot be rebuilt: collect the dataset again")
    report = RepairReport()
    episodes, checksums = _readable_metadata(root, report)
    trusted: set[str] = set()
    for shard in sorted(set(episodes["shard"].to_pylist())):
        path, entry = root / shard, checksums.get(shard)
        mine = episodes.filter(pc.equal(episodes["shard"], shard))
        groups: Counter[int] = Counter()
        for group, length in zip(mine["row_group"].to_pylist(), mine["length"].to_pylist()):
            groups[int(group)] += int(length)
        if entry is None:
            problems = [f"{path}: no entry in meta/checksums.json"]
        else:
            problems = footer_problems(path, entry, sum(groups.values()), dict(groups))
            if not problems and sha256_file(path) != entry["sha256"]:
                problems = [f"{path}: sha256 differs from meta/checksums.json"]
        if not problems:
            trusted.add(shard)
            continue
        for row in mine.select(["embodiment", "attempt", "episode_index", "seed"]).to_pylist():
            report.dropped.append({**row, "shard": shard})
        if path.exists():
            _quarantine(root, path, problems[0].split(": ", 1)[1], report)
    folder = data_dir(root)
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        name = f"{folder.name}/{path.name}"
        if name in trusted:
            continue
        why = _fully_readable(path, root)
        if why is None:
            try:
                shard_episode_rows(path, name, root)
            except DamagedDatasetError as error:
                why = error.problems[0].split(": ", 1)[1]
        if why is not None:
            _quarantine(root, path, why, report)
    kept = episodes.filter(pc.is_in(episodes["shard"], pa.array(sorted(trusted), pa.string())))
    write_episodes(root, kept)
    atomic_write_json(meta_path(root, "checksums.json"), {shard: checksums[shard] for shard in sorted(trusted)})
    meta_path(root, VERIFIED_FILE).unlink(missing_ok=True)
    if report.dropped:
        atomic_write_json(meta_path(root, DROPPED_FILE), read_dropped(root) + report.dropped)
    writer = DatasetWriter(root, image_format=str(info.get("image_format", "png")), append=True)
    report.meta = writer.close()  # adopts intact shards missing from the metadata; rewrites stats and card
    return report


def read_dropped(root: Path) -> list[dict[str, object]]:
    """The episodes ``repair`` removed from the dataset at ``root`` (``meta/dropped.json``; empty if none)."""
    path = meta_path(root, DROPPED_FILE)
    if not path.exists():
        return []
    document = json.loads(path.read_text())
    return list(document) if isinstance(document, list) else []
