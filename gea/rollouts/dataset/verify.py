"""Check a dataset on disk: every shard present, unmodified (sha256), and with the rows the metadata says."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.compute as pc
import pyarrow.parquet as pq

from gea.files import sha256_file
from gea.rollouts.dataset.layout import data_dir
from gea.rollouts.dataset.meta import DatasetError, DatasetMeta


@dataclass
class VerifyReport:
    """What ``verify`` checked and any problems it found (each naming a file)."""

    episodes: int = 0
    steps: int = 0
    shards: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problems."""
        return not self.problems


def verify(root: str, check_hashes: bool = True) -> VerifyReport:
    """Check checksums, row counts and episode offsets of the dataset at ``root``."""
    meta = DatasetMeta.load(root)
    report = VerifyReport(episodes=meta.num_episodes, steps=meta.num_steps)
    committed = meta.shard_files()
    report.shards = len(committed)
    per_shard = meta.episodes.group_by("shard").aggregate([("length", "sum")])
    lengths = dict(zip(per_shard["shard"].to_pylist(), per_shard["length_sum"].to_pylist()))
    for shard in committed:
        path = meta.root / shard
        entry = meta.checksums.get(shard)
        if entry is None:
            report.problems.append(f"{path}: no checksum in meta/checksums.json")
            continue
        if not path.exists():
            report.problems.append(f"{path}: missing shard")
            continue
        if check_hashes and sha256_file(path) != entry["sha256"]:
            report.problems.append(f"{path}: corrupt shard (sha256 differs from meta/checksums.json)")
            continue
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as error:  # pyarrow raises several types for unreadable files
            report.problems.append(f"{path}: unreadable Parquet file ({error})")
            continue
        if rows != entry["rows"] or rows != lengths[shard]:
            report.problems.append(
                f"{path}: {rows} rows, but checksums.json says {entry['rows']} and episodes.parquet {lengths[shard]}"
            )
    indices = meta.episodes["episode_index"]
    if pc.count_distinct(indices).as_py() != len(indices):
        report.problems.append(f"{meta.root}/meta/episodes.parquet: duplicate episode indices")
    folder = data_dir(meta.root)
    extra = sorted(p.name for p in folder.glob("*.parquet") if f"{folder.name}/{p.name}" not in committed)
    if extra:
        report.warnings.append(
            f"shards {extra} are not in meta/episodes.parquet (an interrupted run); `gea collect ... resume=true` "
            "adopts them"
        )
    return report


def verify_or_raise(root: str, check_hashes: bool = True) -> VerifyReport:
    """``verify``, raising ``DatasetError`` with every problem if there is one."""
    report = verify(root, check_hashes)
    if not report.ok:
        raise DatasetError("dataset verification failed:\n  " + "\n  ".join(report.problems))
    return report
