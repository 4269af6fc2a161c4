"""Iterate over a dataset's episodes in index order, with one row group in memory at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from gea.rollouts.dataset.integrity import open_shard, read_row_group
from gea.rollouts.dataset.meta import DatasetMeta


def iter_episodes(
    meta: DatasetMeta, embodiment: str | None = None, columns: Sequence[str] | None = None
) -> Iterator[pa.Table]:
    """Yield each episode's rows (ordered by step) as a table, optionally only one embodiment's."""
    episodes = meta.episodes
    if embodiment is not None:
        episodes = episodes.filter(pc.equal(episodes["embodiment"], embodiment))
    rows = episodes.select(["shard", "row_group", "row_start", "length"]).to_pylist()
    loaded: tuple[str, int] | None = None
    table: pa.Table | None = None
    group_start = 0
    for row in rows:
        if loaded != (row["shard"], row["row_group"]):
            path = meta.root / row["shard"]
            parquet = open_shard(path, meta.root)
            table = read_row_group(parquet, path, meta.root, row["row_group"], columns)
            group_start = sum(parquet.metadata.row_group(g).num_rows for g in range(row["row_group"]))
            loaded = (row["shard"], row["row_group"])
        assert table is not None
        yield table.slice(row["row_start"] - group_start, row["length"])
