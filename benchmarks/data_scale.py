"""Scale benchmark: a synthetic 10M-step, 100k-episode dataset written, verified and read like a training run.

Run (the write takes 1-2 hours on 2 shared cores; about 6 GB under --root; --root must be outside the repo):

    .venv/bin/python benchmarks/data_scale.py --root /work/scale_data

What it measures, each read figure in a fresh subprocess and side by side for a 1M-step and a 10M-step dataset:

1. Write: steps/s of ``EpisodeBuilder`` + ``DatasetWriter`` (PNG encoding included, as in ``gea collect``), the
   rate over each tenth of the write (flat when commits do not slow down as the dataset grows), disk use.
2. ``gea dataset verify`` wall time, with and without the sha256 pass.
3. Reader startup: import, ``WindowDataset(...)`` construction and the first window.
4. Reader throughput and memory: windows/s over a fixed number of decoded windows (context 3), and resident
   memory sampled along the read.
5. Rank-sharded reading: 4 concurrent processes (rank 0-3 of 4) make one full pass over the 10M-step dataset;
   every step must come out exactly once over the 4 ranks; resident memory sampled along each rank's pass.
6. Metadata at GEA scale: a metadata-only dataset of 2.2M episodes (220M steps in 22k shards, no shard files):
   the per-commit rewrite of ``meta/episodes.parquet``, ``DatasetMeta.load`` and ``WindowDataset`` startup time
   and memory, measured rather than projected.

Phases can be run apart: ``--phases write`` then ``--phases measure`` (the write figures are kept under --root).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")
SIZES = {"1M": (1_000_000, 10_000), "10M": (10_000_000, 100_000)}
GEA_TRAJECTORIES = 2_200_000


def load_average() -> str:
    """The 1, 5 and 15 minute load averages as text."""
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def rss_mib() -> float:
    """This process's resident memory now, MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def folder_bytes(root: Path) -> int:
    """Total size of the files under ``root``."""
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


# ------------------------------------------------------------------------------------------ synthetic episodes
GRID_ACTIONS = ("turn left", "turn right", "move forward", "pick up", "drop", "toggle", "done")


def synthetic_frames(rng: np.random.Generator, length: int, size: int, background: tuple[int, int, int]) -> np.ndarray:
    """Grid-world-like frames: a grid, a fixed goal, an agent on a random walk and 2% sensor-noise pixels."""
    frames = np.empty((length, size, size, 3), np.uint8)
    frames[:] = background
    frames[:, ::8] = 90
    frames[:, :, ::8] = 90
    goal_y, goal_x = rng.integers(0, size - 4, 2)
    frames[:, goal_y : goal_y + 4, goal_x : goal_x + 4] = (200, 30, 30)
    walk = np.cumsum(rng.integers(-1, 2, size=(length, 2)), axis=0) % (size - 4)
    for t, (y, x) in enumerate(walk):
        frames[t, y : y + 4, x : x + 4] = (30, 200, 30)
    noisy = rng.random((length, size, size, 1)) < 0.02
    return np.where(noisy, frames + rng.integers(0, 16, frames.shape, dtype=np.uint8), frames).astype(np.uint8)


def write_dataset(root: Path, steps: int, min_episodes: int, image_size: int, seed: int) -> dict[str, Any]:
    """Write a two-embodiment synthetic dataset of at least ``steps`` steps and ``min_episodes`` episodes."""
    from gea.envs.spec import ContinuousActions, DiscreteActions
    from gea.rollouts.dataset import DatasetWriter, EpisodeBuilder, action_document

    specs = {
        "synthetic:grid": DiscreteActions(GRID_ACTIONS),
        "synthetic:arm": ContinuousActions(4, (-1.0,) * 4, (1.0,) * 4),
    }
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    writer = DatasetWriter(root, image_format="png", name=root.name, source={"kind": "synthetic"})
    for name, spec in specs.items():
        writer.add_embodiment(name, {"domain": "navigation", "description": name, "action": action_document(spec)})
    done_steps = episodes = 0
    build_seconds = 0.0
    marks: list[tuple[int, float]] = [(0, 0.0)]
    tenth = steps // 10
    while done_steps < steps or episodes < min_episodes:
        embodiment = "synthetic:grid" if episodes % 2 == 0 else "synthetic:arm"
        length = int(rng.integers(20, 181))  # mean 100 steps
        began = time.perf_counter()
        frames = synthetic_frames(rng, length, image_size, (30, 30, 40) if episodes % 2 == 0 else (50, 45, 40))
        builder = EpisodeBuilder(embodiment, embodiment.split(":")[1], specs[embodiment], "png", seed=episodes)
        for t in range(length):
            last = t == length - 1
            if embodiment == "synthetic:grid":
                observation = {"image": frames[t], "instruction": "go to the red ball"}
                action: Any = int(rng.integers(len(GRID_ACTIONS)))
            else:
                observation = {"image": frames[t], "instruction": "reach the red target", "proprio": rng.random(8)}
                action = rng.uniform(-1, 1, 4)
            builder.add_step(observation, action, float(last), last, False, last)
        build_seconds += time.perf_counter() - began
        writer.add_episode(builder.episode)
        done_steps += length
        episodes += 1
        if done_steps // tenth > (marks[-1][0] // tenth) and len(marks) <= 10:
            marks.append((done_steps, time.perf_counter() - start))
            print(f"  {root.name}: {done_steps:,} steps, {episodes:,} episodes, {marks[-1][1]:.0f} s", flush=True)
    if marks[-1][0] < done_steps:
        marks.append((done_steps, time.perf_counter() - start))
    closing = time.perf_counter()
    writer.close()  # the last commit, action statistics (a pass over the action columns) and the card
    elapsed = time.perf_counter() - start
    segment_rates = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in itertools.pairwise(marks)]
    return {
        "steps": done_steps,
        "episodes": episodes,
        "seconds": elapsed,
        "build_seconds": build_seconds,
        "close_seconds": elapsed - (closing - start),
        "steps_per_s": done_steps / elapsed,
        "segment_rates": segment_rates,
        "bytes": folder_bytes(root),
        "data_bytes": folder_bytes(root / "data"),
        "meta_bytes": folder_bytes(root / "meta"),
        "shards": len(list((root / "data").glob("*.parquet"))),
        "load": load_average(),
        "image_size": image_size,
    }


# ------------------------------------------------------------------------------------------ probes (subprocesses)
def probe_read(path: str, windows: int, sample_every: int) -> dict[str, Any]:
    """Startup, windows/s and resident memory along a read of ``windows`` decoded windows (one process)."""
    began = time.perf_counter()
    from gea.rollouts.dataset import WindowDataset

    imported = time.perf_counter()
    rss_imported = rss_mib()
    dataset = WindowDataset(path, context=3, seed=0)
    constructed = time.perf_counter()
    samples = iter(dataset)
    next(samples)
    first = time.perf_counter()
    series = [rss_mib()]
    for count in range(1, windows):
        next(samples)
        if count % sample_every == 0:
            series.append(rss_mib())
    finished = time.perf_counter()
    return {
        "import_s": imported - began,
        "construct_s": constructed - imported,
        "first_window_s": first - constructed,
        "windows_per_s": (windows - 1) / (finished - first),
        "rss_imported": rss_imported,
        "rss_series": series,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def probe_shard(path: str, rank: int, world: int, keys_file: str, sample_every: int) -> dict[str, Any]:
    """One rank's full pass (encoded images, no decoding); writes each window's (episode, step) key to a file."""
    from gea.rollouts.dataset import WindowDataset

    began = time.perf_counter()
    dataset = WindowDataset(path, context=3, rank=rank, world_size=world, loop=False, decode_images=False)
    series, chunk, count = [rss_mib()], [], 0
    with open(keys_file, "wb") as keys:
        for sample in dataset:
            chunk.append(sample["episode_index"] * 1024 + sample["step"])
            count += 1
            if count % sample_every == 0:
                np.asarray(chunk, np.int64).tofile(keys)
                chunk = []
                series.append(rss_mib())
        np.asarray(chunk, np.int64).tofile(keys)
    seconds = time.perf_counter() - began
    return {
        "rank": rank,
        "windows": count,
        "seconds": seconds,
        "windows_per_s": count / seconds,
        "rss_series": series,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def probe_metadata(path: str, what: str) -> dict[str, Any]:
    """Seconds and resident memory of ``DatasetMeta.load`` (``what="meta"``) or of constructing a
    ``WindowDataset`` (``"reader"``) on a large ``meta/episodes.parquet``; no shard is opened."""
    from gea.rollouts.dataset import DatasetMeta, WindowDataset

    rss_imported = rss_mib()
    began = time.perf_counter()
    loaded: Any = DatasetMeta.load(path) if what == "meta" else WindowDataset(path, context=3, seed=0)
    seconds = time.perf_counter() - began
    units = 0 if what == "meta" else sum(len(source[3]) for source in loaded._sources)
    return {"seconds": seconds, "rss_imported": rss_imported, "rss_after": rss_mib(), "units": units}


def run_probe(*args: str) -> dict[str, Any]:
    """Run a probe of this file in a fresh interpreter; return its JSON answer."""
    output = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ measurements
def time_verify(path: Path, *flags: str) -> float:
    """Wall seconds of ``gea dataset verify PATH`` (fresh process), failing if verification fails."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gea.cli", "dataset", "verify", str(path), *flags], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - began


def sharded_pass(path: Path, world: int, workdir: Path, expected_steps: int) -> dict[str, Any]:
    """``world`` concurrent rank processes over one dataset; checks every step is read exactly once."""
    began = time.perf_counter()
    processes = []
    for rank in range(world):
        keys = workdir / f"keys-{rank}.bin"
        command = [sys.executable, __file__, "probe-shard", str(path), str(rank), str(world), str(keys), "100000"]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    ranks = []
    for process in processes:
        stdout, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"rank process failed with code {process.returncode}")
        ranks.append(json.loads(stdout.strip().splitlines()[-1]))
    wall = time.perf_counter() - began
    keys = np.concatenate([np.fromfile(workdir / f"keys-{rank}.bin", np.int64) for rank in range(world)])
    unique = len(np.unique(keys))
    for rank in range(world):
        (workdir / f"keys-{rank}.bin").unlink()
    return {"wall_s": wall, "ranks": ranks, "total": len(keys), "unique": unique, "expected": expected_steps}


def write_metadata_only(root: Path, episodes: int, mean_length: int, shard_rows: int, group_rows: int) -> float:
    """A dataset folder with only ``meta/`` for ``episodes`` episodes; returns one ``episodes.parquet`` write time."""
    import pyarrow as pa

    from gea.files import atomic_write_json
    from gea.rollouts.dataset.layout import FORMAT_NAME, meta_path, shard_name
    from gea.rollouts.dataset.meta import EPISODES_SCHEMA, write_episodes

    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 2 * mean_length - 19, episodes).astype(np.int32)
    ends = np.cumsum(lengths.astype(np.int64))
    starts = ends - lengths
    shard = starts // shard_rows
    shard_start = shard * shard_rows
    row_start = starts - shard_start
    embodiments = np.where(np.arange(episodes) % 2 == 0, "synthetic:grid", "synthetic:arm")
    table = pa.table(
        {
            "episode_index": np.arange(episodes, dtype=np.int64),
            "embodiment": embodiments,
            "task": np.char.partition(embodiments.astype(str), ":")[:, 2],
            "shard": [shard_name(int(number)) for number in shard],
            "row_group": (row_start // group_rows).astype(np.int32),
            "row_start": row_start,
            "length": lengths,
            "return": np.ones(episodes),
            "success": np.ones(episodes, bool),
            "seed": np.arange(episodes, dtype=np.int64),
            "attempt": np.zeros(episodes, np.int32),
        },
        schema=EPISODES_SCHEMA,
    )
    discrete = {"kind": "discrete", "names": list(GRID_ACTIONS)}
    continuous = {"kind": "continuous", "dim": 4, "low": [-1.0] * 4, "high": [1.0] * 4}
    info = {
        "format": FORMAT_NAME,
        "schema_version": 1,
        "image_format": "png",
        "embodiments": {"synthetic:grid": {"action": discrete}, "synthetic:arm": {"action": continuous}},
    }
    atomic_write_json(meta_path(root, "info.json"), info)
    began = time.perf_counter()
    write_episodes(root, table)
    return time.perf_counter() - began


def measure(root: Path, repeats: int, read_windows: int, large_steps: int) -> dict[str, Any]:
    """Every read-side measurement on ``root/1M`` and ``root/10M``, sizes interleaved within each repeat."""
    results: dict[str, Any] = {"load_start": load_average(), "verify": {}, "read": {}}
    for name in SIZES:
        results["verify"][name] = {"hash": [], "no_hash": []}
        results["read"][name] = []
    for repeat in range(repeats):
        for name in SIZES:
            results["verify"][name]["hash"].append(time_verify(root / name))
            results["verify"][name]["no_hash"].append(time_verify(root / name, "--no-hash"))
            results["read"][name].append(run_probe("probe-read", str(root / name), str(read_windows), "5000"))
            print(
                f"  repeat {repeat}: {name} read {results['read'][name][-1]['windows_per_s']:.0f} windows/s", flush=True
            )
    results["load_after_reads"] = load_average()
    print("  4-rank pass over 10M ...", flush=True)
    results["sharded"] = sharded_pass(root / "10M", 4, root, large_steps)
    results["load_after_sharded"] = load_average()
    meta_root = root / "meta_2.2M"
    results["meta_write_s"] = [write_metadata_only(meta_root, GEA_TRAJECTORIES, 100, 10_000, 1_000)]
    from gea.rollouts.dataset.meta import read_episodes, write_episodes

    table = read_episodes(meta_root)
    for _ in range(repeats - 1):
        began = time.perf_counter()
        write_episodes(meta_root, table)
        results["meta_write_s"].append(time.perf_counter() - began)
    results["meta_bytes"] = (meta_root / "meta" / "episodes.parquet").stat().st_size
    results["meta_probe"] = {"meta": [], "reader": []}
    for _ in range(repeats):
        for what in ("meta", "reader"):
            results["meta_probe"][what].append(run_probe("probe-metadata", str(meta_root), what))
    shutil.rmtree(meta_root)
    results["load_end"] = load_average()
    return results


# ------------------------------------------------------------------------------------------ report
def _median_spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(root: Path, writes: dict[str, Any], results: dict[str, Any], command: str) -> str:
    """The Markdown results file."""
    large, small = writes["10M"], writes["1M"]
    lines = [
        "# Data at scale: a 10M-step, 100k-episode dataset",
        "",
        f"Command: `{command}`",
        "",
        f"Date: {datetime.date.today().isoformat()}. Machine: {os.cpu_count()} CPU cores shared with other jobs, "
        "24 GiB RAM; every figure below was taken while other helpers' jobs were running, so absolute rates are "
        "lower bounds. Load average (1, 5, 15 min): "
        f"write of 10M {large['load']} (at its end), reads {results['load_start']} -> {results['load_after_reads']}, "
        f"4-rank pass -> {results['load_after_sharded']}, end {results['load_end']}.",
        "",
        "Synthetic data: two embodiments alternating episode by episode (a discrete 7-action grid world; a 4-d "
        "continuous arm with 8-d proprio), episode lengths uniform in 20-180 steps (mean 100), one 32x32 RGB PNG "
        "per step (grid, goal, an agent on a random walk, 2% noise pixels: "
        f"{large['data_bytes'] / large['steps']:.0f} bytes per step on disk all columns included). The write goes "
        "through `EpisodeBuilder` + `DatasetWriter` (10,000-row shards, 1,000-row row groups), as `gea collect` does.",
        "",
        "## Write",
        "",
        "| dataset | steps | episodes | shards | disk | seconds | steps/s | of which building rows (PNG) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in (("1M", small), ("10M", large)):
        lines.append(
            f"| {name} | {entry['steps']:,} | {entry['episodes']:,} | {entry['shards']:,} | "
            f"{entry['bytes'] / 2**30:.2f} GiB | {entry['seconds']:.0f} | {entry['steps_per_s']:.0f} | "
            f"{100 * entry['build_seconds'] / entry['seconds']:.0f}% |"
        )
    rates = large["segment_rates"]
    lines += [
        "",
        "Write rate over each tenth of the 10M write (steps/s): " + ", ".join(f"{rate:.0f}" for rate in rates) + ".",
        f"First to last tenth: {100 * (rates[-1] / rates[0] - 1):+.0f}% (commits rewrite `meta/episodes.parquet`; "
        "a growing cost would show here).",
        "",
        f"## `gea dataset verify` (fresh process, median (min-max) of {len(results['verify']['1M']['hash'])})",
        "",
        "| dataset | with sha256, s | MB/s hashed | --no-hash, s |",
        "|---|---:|---:|---:|",
    ]
    for name, entry in (("1M", small), ("10M", large)):
        verify = results["verify"][name]
        rate = entry["data_bytes"] / 1e6 / statistics.median(verify["hash"])
        lines.append(
            f"| {name} | {_median_spread(verify['hash'])} | {rate:.0f} | {_median_spread(verify['no_hash'])} |"
        )
    reads = results["read"]
    windows = len(reads["1M"][0]["rss_series"]) * 5000
    lines += [
        "",
        f"## Reader: startup, windows/s and memory (fresh process each, median (min-max) of {len(reads['1M'])})",
        "",
        f"`WindowDataset(path, context=3)`, images decoded, {windows:,} windows per read; resident memory (RSS) "
        "sampled every 5,000 windows.",
        "",
        "| dataset | import s | construct s | first window s | windows/s | RSS after import MiB | "
        "RSS at first window MiB | RSS at end MiB | max sampled RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in SIZES:
        runs = reads[name]
        lines.append(
            f"| {name} | {_median_spread([r['import_s'] for r in runs])} | "
            f"{_median_spread([r['construct_s'] for r in runs])} | "
            f"{_median_spread([r['first_window_s'] for r in runs])} | "
            f"{_median_spread([r['windows_per_s'] for r in runs], 0)} | "
            f"{_median_spread([r['rss_imported'] for r in runs], 0)} | "
            f"{_median_spread([r['rss_series'][0] for r in runs], 0)} | "
            f"{_median_spread([r['rss_series'][-1] for r in runs], 0)} | "
            f"{_median_spread([max(r['rss_series']) for r in runs], 0)} |"
        )
    growth = statistics.median(max(r["rss_series"]) for r in reads["10M"]) / statistics.median(
        max(r["rss_series"]) for r in reads["1M"]
    )
    lines += ["", f"Max sampled RSS, 10M vs 1M: {100 * (growth - 1):+.1f}%.", ""]
    sharded = results["sharded"]
    lines += [
        "## Rank-sharded reading: 4 ranks, one full pass over 10M steps",
        "",
        "4 concurrent processes, `WindowDataset(rank=r, world_size=4, loop=False, decode_images=False)` (each "
        "rank decodes only what it trains on; decoding is measured above). Row groups are dealt to ranks.",
        "",
        "| rank | windows | seconds | windows/s | RSS at start MiB | RSS at end MiB | max sampled RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in sharded["ranks"]:
        series = entry["rss_series"]
        lines.append(
            f"| {entry['rank']} | {entry['windows']:,} | {entry['seconds']:.0f} | {entry['windows_per_s']:.0f} | "
            f"{series[0]:.0f} | {series[-1]:.0f} | {max(series):.0f} |"
        )
    counts = [entry["windows"] for entry in sharded["ranks"]]
    exact = sharded["total"] == sharded["unique"] == sharded["expected"]
    lines += [
        "",
        f"Wall time {sharded['wall_s']:.0f} s for the whole pass. Coverage: {sharded['total']:,} windows read, "
        f"{sharded['unique']:,} distinct (episode, step), dataset has {sharded['expected']:,} steps: "
        f"{'every step exactly once' if exact else 'MISMATCH'}. Balance: largest rank {max(counts):,}, smallest "
        f"{min(counts):,} ({100 * (max(counts) / min(counts) - 1):.1f}% apart).",
        "",
    ]
    probes = results["meta_probe"]
    meta_mib = results["meta_bytes"] / 2**20
    lines += [
        "## Metadata at GEA's 2.2M trajectories (measured on a metadata-only dataset)",
        "",
        f"`meta/episodes.parquet` for {GEA_TRAJECTORIES:,} episodes of mean length 100 (220M steps, 22,000 shards "
        f"of 10,000 rows, {probes['reader'][0]['units']:,} (row group, embodiment) units): {meta_mib:.1f} MiB. "
        "Fresh process for each load; median (min-max).",
        "",
        "| what | seconds | RSS after imports MiB | RSS after MiB |",
        "|---|---:|---:|---:|",
        f"| rewrite `meta/episodes.parquet` (at each shard commit) | {_median_spread(results['meta_write_s'])} | | |",
    ]
    for what, label in (("meta", "`DatasetMeta.load` (all columns; verify, info)"), ("reader", "`WindowDataset(...)`")):
        runs = probes[what]
        lines.append(
            f"| {label} | {_median_spread([r['seconds'] for r in runs])} | "
            f"{_median_spread([r['rss_imported'] for r in runs], 0)} | "
            f"{_median_spread([r['rss_after'] for r in runs], 0)} |"
        )
    lines.append("")
    lines += projection(large, results)
    return "\n".join(lines) + "\n"


def projection(large: dict[str, Any], results: dict[str, Any]) -> list[str]:
    """Paper projection of the measured per-step and per-episode figures to GEA's 2.2M trajectories."""
    steps = GEA_TRAJECTORIES * 100
    bytes_per_step = large["data_bytes"] / large["steps"]
    hash_rate = large["data_bytes"] / statistics.median(results["verify"]["10M"]["hash"])
    commits = steps / 10_000
    rewrite = statistics.median(results["meta_write_s"])
    return [
        "## Projection to GEA's 2.2M trajectories (on paper)",
        "",
        "Assumes 100 steps per trajectory (220M steps); every figure scales linearly with that assumption.",
        "",
        f"- Disk: {bytes_per_step:.0f} bytes/step at 32x32 PNG -> {steps * bytes_per_step / 1e9:.0f} GB. Images "
        "dominate: at a 20 KB JPEG per step (a 224-384 px camera frame) it is about 4.4 TB, so shard the collection "
        "into several datasets (the reader mixes any number by weight).",
        f"- Write: {large['steps_per_s']:.0f} steps/s per writer process here, "
        f"{100 * large['build_seconds'] / large['seconds']:.0f}% of it encoding rows -> "
        f"{steps / large['steps_per_s'] / 3600:.0f} process-hours; collection writes one "
        "dataset per job/process, so this divides by the number of collection processes.",
        f"- Commits: {commits:,.0f} shard commits of 10,000 rows; the metadata rewrite at the last commit takes "
        f"{rewrite:.2f} s, averaging half that over the write: {commits * rewrite / 2 / 3600:.1f} hours of a "
        f"{steps / large['steps_per_s'] / 3600:.0f}-hour write with one writer"
        f" ({100 * commits * rewrite / 2 / (steps / large['steps_per_s']):.0f}%); with `shard_max_rows=100_000` "
        "a tenth of that.",
        f"- `gea dataset verify`: hashing at {hash_rate / 1e6:.0f} MB/s -> "
        f"{steps * bytes_per_step / hash_rate / 60:.0f} min for 220M steps of 32 px PNG; `--no-hash` reads only "
        "footers and metadata.",
        "- Reader startup and memory: measured above on 2.2M episodes' metadata; windows/s does not depend on the "
        "dataset size (same rate at 1M and 10M) and neither does resident memory beyond the metadata held per row "
        "group.",
    ]


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    """Write the datasets, measure them, write the results file."""
    if len(sys.argv) > 1 and sys.argv[1].startswith("probe-"):
        probe, args = sys.argv[1], sys.argv[2:]
        if probe == "probe-read":
            answer = probe_read(args[0], int(args[1]), int(args[2]))
        elif probe == "probe-shard":
            answer = probe_shard(args[0], int(args[1]), int(args[2]), args[3], int(args[4]))
        else:
            answer = probe_metadata(args[0], args[1])
        print(json.dumps(answer))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="scratch folder outside the repository")
    parser.add_argument("--phases", default="write,measure", help="write, measure or both (comma-separated)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--read-windows", type=int, default=100_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply dataset sizes (a smoke run: 0.002)")
    parser.add_argument("--keep", action="store_true", help="keep the datasets (deleted at the end otherwise)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data_scale.md"))
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    args.root.mkdir(parents=True, exist_ok=True)
    writes_file = args.root / "writes.json"
    writes: dict[str, Any] = json.loads(writes_file.read_text()) if writes_file.exists() else {}
    if "write" in phases:
        for name, (steps, episodes) in SIZES.items():
            steps, episodes = int(steps * args.scale), int(episodes * args.scale)
            print(f"writing {name} (load {load_average()})", flush=True)
            writes[name] = write_dataset(args.root / name, steps, episodes, args.image_size, seed=len(name))
            writes_file.write_text(json.dumps(writes, indent=1))
    if "measure" in phases:
        print(f"measuring (load {load_average()})", flush=True)
        results = measure(args.root, args.repeats, args.read_windows, writes["10M"]["steps"])
        (args.root / "measure.json").write_text(json.dumps(results, indent=1))
        command = f".venv/bin/python benchmarks/data_scale.py --root {args.root}"
        args.out.write_text(report(args.root, writes, results, command))
        print(f"wrote {args.out}")
        if not args.keep:
            shutil.rmtree(args.root)


if __name__ == "__main__":
    main()
