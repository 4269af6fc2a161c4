"""Data benchmarks: collection throughput with 1 vs 2 workers, window loading vs Minari, reader memory.

Run: .venv/bin/python benchmarks/data.py [--quick] [--out benchmarks/results/data.md]

1. Collection: steady-state steps/s of expert episodes in 1 and 2 spawn worker processes (workers and
   envs warmed up first), on the BabyAI bot (CPU-bound) and on Meta-World's scripted policy with images.
2. Loading: training windows (context 3, decoded images + actions) per second from the same episodes,
   read by ``WindowDataset`` and by Minari (HDF5, ``sample_episodes`` then cutting windows).
3. Memory: peak RSS of a full reader pass over a dataset and over one 10x larger, each in a fresh
   subprocess (``resource.getrusage`` maxrss), also relative to the RSS after imports.
The machine is shared, so every timing is the median of several repeats.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import gea.envs
from gea.rollouts.collect import episode_seed, task_label
from gea.rollouts.dataset import (
    DatasetWriter,
    WindowDataset,
    embodiment_document,
    export_minari,
)
from gea.rollouts.expert_episode import EpisodeJob, collect_episode


def _jobs(env_ids: list[str], count: int, offset: int, image_size: int) -> list[EpisodeJob]:
    return [
        EpisodeJob(env_id, task_label(env_id), a, episode_seed(0, env_id, a), image_size=image_size)
        for a in range(offset, offset + count)
        for env_id in env_ids
    ]


def collection_rate(env_ids: list[str], workers: int, episodes: int, image_size: int) -> float:
    """Steady-state steps/s of ``episodes`` expert episodes per env in ``workers`` processes."""
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(collect_episode, _jobs(env_ids, 2 * workers, 10_000, image_size)))  # start workers and envs
        start = time.perf_counter()
        steps = sum(episode.length for episode in pool.map(collect_episode, _jobs(env_ids, episodes, 0, image_size)))
        return steps / (time.perf_counter() - start)


def build_dataset(root: Path, env_id: str, episodes: int, repeat: int = 1, image_size: int = 64) -> Path:
    """Collect ``episodes`` expert episodes in-process and write each ``repeat`` times."""
    collected = [collect_episode(job) for job in _jobs([env_id], episodes, 0, image_size)]
    writer = DatasetWriter(root, shard_max_rows=5_000, row_group_rows=500)
    writer.add_embodiment(env_id, embodiment_document(gea.envs.spec(env_id)))
    for _ in range(repeat):
        for episode in collected:
            writer.add_episode(episode)
    writer.close()
    return root


def _pad(values: np.ndarray, pad: int) -> np.ndarray:
    return np.concatenate([np.zeros((pad, *values.shape[1:]), values.dtype), values]) if pad else values


def gea_window_rate(root: Path, context: int = 3) -> tuple[float, int]:
    """Windows/s of one full ``WindowDataset`` pass (decoded images), and the window count."""
    start = time.perf_counter()
    count = sum(1 for _ in WindowDataset(root, context=context, loop=False, seed=0))
    return count / (time.perf_counter() - start), count


def _window(images: np.ndarray, actions: np.ndarray, t: int, context: int) -> dict[str, np.ndarray]:
    first = max(0, t - context + 1)
    pad = context - (t + 1 - first)
    window = {"images": _pad(images[first : t + 1], pad), "actions": _pad(actions[first : t + 1], pad)}
    window["target_action"] = window["actions"][-1]
    return window


def minari_window_rate(dataset: Any, windows: int, every_step: bool, context: int = 3, batch: int = 8) -> float:
    """Windows/s with Minari's ``sample_episodes`` (``batch`` episodes per call).

    ``every_step``: cut every window of each sampled episode (consecutive, correlated windows);
    otherwise one random window per sampled episode (independent windows, as a shuffled batch needs).
    """
    dataset.set_seed(0)
    rng = np.random.default_rng(0)
    start, count = time.perf_counter(), 0
    while count < windows:
        for episode in dataset.sample_episodes(min(batch, dataset.total_episodes)):
            images, actions = episode.observations["image"], episode.actions
            steps = range(len(actions)) if every_step else [int(rng.integers(len(actions)))]
            for t in steps:
                _window(images, actions, t, context)
                count += 1
    return count / (time.perf_counter() - start)


MEMORY_PROBE = """
import resource, sys, tracemalloc
from gea.rollouts.dataset import WindowDataset
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
count = sum(1 for _ in WindowDataset(sys.argv[1], context=3, loop=False))
traced = tracemalloc.get_traced_memory()[1]
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, traced // 1024, count)
"""


def reader_peak_memory(root: Path) -> tuple[int, int, int, int]:
    """(RSS after imports, peak RSS, peak traced Python/numpy allocations of the pass, windows), KiB."""
    output = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(root)], capture_output=True, text=True, check=True)
    base, peak, traced, count = (int(v) for v in output.stdout.split())
    return base, peak, traced, count


def main() -> None:
    """Run every benchmark and write the Markdown results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer episodes and repeats")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data.md"))
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    lines = [
        "# Data benchmarks",
        "",
        f"Command: `.venv/bin/python benchmarks/data.py{' --quick' if args.quick else ''}`",
        "",
    ]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines += [
        f"Machine: {os.cpu_count()} CPU cores, shared (load average at start {load}); medians of {repeats} repeats.",
        "",
    ]

    lines += ["## Collection throughput (steady state, spawn workers)", ""]
    lines += ["| expert | image | 1 worker steps/s | 2 workers steps/s | speedup |", "|---|---|---:|---:|---:|"]
    for label, env_ids, episodes, size in (
        (
            "BabyAI bot (BossLevel, GoToObjMaze)",
            ["babyai:BossLevel", "babyai:GoToObjMaze"],
            6 if args.quick else 12,
            64,
        ),
        (
            "Meta-World scripted (reach, drawer-open)",
            ["metaworld:reach-v3", "metaworld:drawer-open-v3"],
            2 if args.quick else 4,
            64,
        ),
    ):
        rates = {
            w: statistics.median(collection_rate(env_ids, w, episodes, size) for _ in range(repeats)) for w in (1, 2)
        }
        lines.append(f"| {label} | {size} px | {rates[1]:.0f} | {rates[2]:.0f} | {rates[2] / rates[1]:.2f}x |")
        print(lines[-1], flush=True)

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["MINARI_DATASETS_PATH"] = str(root / "minari")
        episodes = 20 if args.quick else 40
        small = build_dataset(root / "small", "babyai:BossLevel", episodes)
        exported = export_minari(small, "bench/bosslevel-v0")
        ours = statistics.median(gea_window_rate(small)[0] for _ in range(repeats))
        windows = gea_window_rate(small)[1]
        sequential = statistics.median(minari_window_rate(exported, windows, True) for _ in range(repeats))
        shuffled = statistics.median(minari_window_rate(exported, windows // 20, False) for _ in range(repeats))
        lines += ["", "## Window loading (context 3, 64 px images decoded, actions)", ""]
        lines += [f"Same {episodes} BabyAI BossLevel expert episodes ({windows} windows).", ""]
        lines += ["| reader | windows/s |", "|---|---:|"]
        lines += [
            f"| gea WindowDataset (Parquet, PNG; block-shuffled windows) | {ours:.0f} |",
            f"| Minari 0.5.3 (HDF5, raw uint8): one random window per sampled episode | {shuffled:.0f} |",
            f"| Minari 0.5.3 (HDF5, raw uint8): every window of each sampled episode, in order | {sequential:.0f} |",
        ]
        lines += [
            "",
            f"Ratio vs independent windows: {ours / shuffled:.1f}x; vs in-order windows of sampled episodes: "
            f"{ours / sequential:.2f}x",
            "",
        ]
        print("\n".join(lines[-8:]), flush=True)

        large = build_dataset(root / "large", "babyai:BossLevel", episodes, repeat=10)
        small_mem, large_mem = reader_peak_memory(small), reader_peak_memory(large)
        lines += ["## Reader peak memory (full pass, fresh process)", ""]
        lines += [
            "| dataset | windows | RSS after imports MiB | peak RSS MiB | peak traced allocations MiB |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, (base, peak, traced, count) in (("1x", small_mem), ("10x", large_mem)):
            lines.append(f"| {name} | {count} | {base / 1024:.0f} | {peak / 1024:.0f} | {traced / 1024:.1f} |")
        rss_growth = large_mem[1] / small_mem[1] - 1
        traced_growth = large_mem[2] / small_mem[2] - 1
        lines += [
            "",
            f"Growth 1x -> 10x: peak RSS {100 * rss_growth:+.1f}%, peak traced allocations {100 * traced_growth:+.1f}%",
            "",
        ]
        print("\n".join(lines[-7:]), flush=True)
    lines += [f"Load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
