"""The dataset card: a ``README.md`` generated from the metadata (counts, success rates, action statistics)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from gea.rollouts.dataset.meta import DatasetMeta
from gea.rollouts.dataset.schema import COLUMN_DOCS, ROW_SCHEMA


def _format_vector(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3g}" for v in values) + "]"


def _episode_rows(meta: DatasetMeta) -> list[tuple[str, str, int, int, float, int]]:
    """(embodiment, task, episodes, successes, mean return, steps) for every embodiment/task pair."""
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
    columns = meta.episodes.select(["embodiment", "task", "success", "return", "length"]).to_pylist()
    for row in columns:
        entry = totals[(row["embodiment"], row["task"])]
        entry[0] += 1
        entry[1] += int(row["success"])
        entry[2] += float(row["return"])
        entry[3] += int(row["length"])
    return [
        (embodiment, task, int(n), int(wins), total_return / n, int(steps))
        for (embodiment, task), (n, wins, total_return, steps) in sorted(totals.items())
    ]


def _stats_lines(stats: dict[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for embodiment, entry in stats.items():
        if entry["kind"] == "continuous":
            lines += [
                f"- `{embodiment}` (continuous, {entry['count']} actions): mean {_format_vector(entry['mean'])}, "
                f"std {_format_vector(entry['std'])}, min {_format_vector(entry['min'])}, "
                f"max {_format_vector(entry['max'])}, q01 {_format_vector(entry['q01'])}, "
                f"q99 {_format_vector(entry['q99'])}"
            ]
        else:
            top = ", ".join(f"{name!r} {count}" for name, count in list(entry["frequency"].items())[:8])
            lines += [f"- `{embodiment}` ({entry['kind']}, {entry['count']} actions): {top}"]
    return lines


def render_card(meta: DatasetMeta, stats: dict[str, dict[str, Any]]) -> str:
    """Markdown text of the dataset card."""
    rows = _episode_rows(meta)
    source = meta.info.get("source", {})
    lines = [
        f"# {meta.info.get('name', meta.root.name)}",
        "",
        "A GEA episode dataset: expert trajectories, one Parquet row per environment step.",
        "",
        f"- episodes: {meta.num_episodes}; steps: {meta.num_steps}; shards: {len(meta.shard_files())}",
        f"- image format: {meta.image_format}",
        f"- source: {source.get('kind', 'unknown')} {source.get('detail', '')}".rstrip(),
        "",
        'Load it with `datasets.load_dataset("parquet", data_files="data/*.parquet")`, or stream training',
        "windows with `gea.rollouts.dataset.WindowDataset`. `gea dataset verify PATH` checks the checksums.",
        "",
        "## Episodes per embodiment and task",
        "",
        "| embodiment | task | episodes | expert success | mean return | steps |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {embodiment} | {task} | {n} | {100.0 * wins / n:.1f}% | {mean_return:.3f} | {steps} |"
        for embodiment, task, n, wins, mean_return, steps in rows
    ]
    lines += ["", "## Action statistics", "", *_stats_lines(stats), "", "## Columns", ""]
    lines += [f"- `{field.name}` ({field.type}): {COLUMN_DOCS[field.name]}" for field in ROW_SCHEMA]
    return "\n".join(lines) + "\n"
