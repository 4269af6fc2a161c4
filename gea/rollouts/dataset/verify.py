"""Check a dataset on disk in full: every shard present, unmodified (sha256), and with the rows the metadata says."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.compute as pc

from gea.files import sha256_file
from gea.rollouts.dataset.integrity import damaged, shard_problems
from gea.rollouts.dataset.layout import data_dir
from gea.rollouts.dataset.meta import DatasetMeta


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
    """Check checksums, sizes, footers, row counts and episode offsets of the dataset at ``root``."""
    meta = DatasetMeta.load(root, check_shards=False)
    report = VerifyReport(episodes=meta.num_episodes, steps=meta.num_steps, shards=len(meta.shard_files()))
    report.problems = shard_problems(meta.root, meta.episodes, meta.checksums, hash_modified=False)
    failed = {problem.split(": ", 1)[0] for problem in report.problems}
    for shard in meta.shard_files() if check_hashes else []:
        path = meta.root / shard
        if str(path) not in failed and sha256_file(path) != meta.checksums[shard]["sha256"]:
            report.problems.append(f"{path}: corrupt shard (sha256 differs from meta/checksums.json)")
    indices = meta.episodes["episode_index"]
    if pc.count_distinct(indices).as_py() != len(indices):
        report.problems.append(f"{meta.root}/meta/episodes.parquet: duplicate episode indices")
    folder = data_dir(meta.root)
    committed = set(meta.shard_files())
    extra = sorted(p.name for p in folder.glob("*.parquet") if f"{folder.name}/{p.name}" not in committed)
    if extra:
        report.warnings.append(
            f"shards {extra} are not in meta/episodes.parquet (an interrupted run); `gea collect ... resume=true` "
            "adopts them"
        )
    return report


def verify_or_raise(root: str, check_hashes: bool = True) -> VerifyReport:
    """``verify``, raising ``DatasetError`` with every problem and the fix if there is one."""
    report = verify(root, check_hashes)
    if not report.ok:
        raise damaged(DatasetMeta.load(root, check_shards=False).root, report.problems)
    return report
