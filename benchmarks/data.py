"""Data benchmarks: collection with 1 vs 2 workers, window loading vs Minari's readers, reader memory.

Run: .venv/bin/python benchmarks/data.py [--quick] [--out benchmarks/results/data.md]

1. Collection: steps/s of the same expert episodes collected by 1 and by 2 spawn worker processes (workers and
   envs warmed up first), BabyAI bot and Meta-World scripted policy with 64 px images. The two sides alternate
   (1, 2, 2, 1, ...), each repeat's ratio compares adjacent runs.
2. Loading: training windows (context 3, decoded images, actions, mask) per second over one full pass of the same
   episodes, read by ``WindowDataset`` (PNG with its default 2 decoding threads and with 1, JPEG, raw image
   storage) and by Minari 0.5 used the two ways its
   users read episodes: a ``torch.utils.data.DataLoader`` over the ``MinariDataset`` (shuffled episodes, 8 per
   batch, every window of a batch yielded in shuffled order), and ``iterate_episodes()`` into memory followed by
   every window in a global shuffled order. All readers run in turns within each repeat and yield the same windows.
3. Memory: peak RSS of a full reader pass over a dataset and over one 10x larger, each in a fresh subprocess.
4. Storage (``--sections storage``, not run by default): disk size per step of the same episodes of a few envs in
   each image format, and gea's window loading rate on PNG and raw frames.

Next to the Markdown report, ``data.json`` records every run and the work of each side (env steps, windows).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

from _bench import load_average, median_spread, paired_ratios, side_order, write_results

import gea.envs
from gea.rollouts.collect import episode_seed, task_label
from gea.rollouts.dataset import DatasetWriter, WindowDataset, decode_image, embodiment_document, encode_image
from gea.rollouts.dataset.episode import Episode
from gea.rollouts.dataset.minari_io import export_minari
from gea.rollouts.expert_episode import EpisodeJob, collect_episode

CONTEXT = 3
MINARI_BATCH = 8
"""Episodes per ``DataLoader`` batch on the Minari loader side (the windows of a batch are shuffled together;
gea's reader shuffles the windows of 2 row groups of ~500 steps, about 6 BossLevel episodes)."""
STORAGE_ENVS = ("babyai:BossLevel", "metaworld:reach-v3", "procgen:coinrun")
"""Envs whose 64 px frames the storage section writes in each image format: flat 2D, rendered 3D, a 2D game."""
COLLECTION = {
    "babyai": ("BabyAI bot (BossLevel, GoToObjMaze)", ["babyai:BossLevel", "babyai:GoToObjMaze"]),
    "metaworld": ("Meta-World scripted (reach, drawer-open)", ["metaworld:reach-v3", "metaworld:drawer-open-v3"]),
}


def _jobs(env_ids: list[str], count: int, offset: int, image_size: int = 64) -> list[EpisodeJob]:
    return [
        EpisodeJob(env_id, task_label(env_id), a, episode_seed(0, env_id, a), image_size=image_size)
        for a in range(offset, offset + count)
        for env_id in env_ids
    ]


def collection_run(env_ids: list[str], workers: int, episodes: int) -> tuple[int, float]:
    """(env steps, seconds) of ``episodes`` expert episodes per env collected by ``workers`` processes.

    The pool starts and every worker builds its envs on warm-up episodes first; the clock covers the rest.
    """
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(collect_episode, _jobs(env_ids, 2 * workers, 10_000)))
        start = time.perf_counter()
        steps = sum(episode.length for episode in pool.map(collect_episode, _jobs(env_ids, episodes, 0)))
        return steps, time.perf_counter() - start


def collection_section(experts: list[str], episodes: int, repeats: int, record: dict[str, Any]) -> list[str]:
    """Collection throughput rows, 1 vs 2 workers interleaved."""
    lines = [
        "## Collection throughput: 1 vs 2 worker processes (steady state, spawn workers)",
        "",
        f"Both sides collect the same {episodes} episodes per env (same seeds, so the same env steps); per repeat the",
        "sides take turns (1 then 2 workers, then 2 then 1, ...). Steps/s: median (min-max) over repeats; speedup:",
        "median (min-max) of the per-repeat ratios.",
        "",
        "| expert | env steps per run | 1 worker steps/s | 2 workers steps/s | speedup |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, env_ids in (COLLECTION[name] for name in experts):
        runs: dict[int, list[tuple[int, float]]] = {1: [], 2: []}
        for repeat in range(repeats):
            for workers in side_order([1, 2], repeat):
                runs[workers].append(collection_run(env_ids, workers, episodes))
        rates = {w: [steps / seconds for steps, seconds in runs[w]] for w in runs}
        ratios = paired_ratios(rates[2], rates[1])
        record["collection"][label] = {
            "env_ids": env_ids,
            "steps": {str(w): [steps for steps, _ in runs[w]] for w in runs},
            "steps_per_s": {str(w): rates[w] for w in rates},
            "speedup": ratios,
        }
        lines.append(
            f"| {label} | {runs[1][0][0]:,} | {median_spread(rates[1])} | {median_spread(rates[2])} "
            f"| {median_spread(ratios, 2, 'x')} |"
        )
        print(lines[-1], flush=True)
    return lines


def collect_episodes(env_id: str, episodes: int) -> list[Episode]:
    """``episodes`` expert episodes of ``env_id`` (64 px PNG images), collected in this process."""
    return [collect_episode(job) for job in _jobs([env_id], episodes, 0)]


def write_dataset(root: Path, episodes: list[Episode], image_format: str = "png", repeat: int = 1) -> Path:
    """Write ``episodes`` (each ``repeat`` times) with images stored as ``image_format``."""
    writer = DatasetWriter(root, image_format=image_format, shard_max_rows=5_000, row_group_rows=500)
    writer.add_embodiment(episodes[0].embodiment, embodiment_document(gea.envs.spec(episodes[0].embodiment)))
    for _ in range(repeat):
        for episode in episodes:
            if image_format != "png":
                images = [encode_image(decode_image(data), image_format) for data in episode.columns["image"]]
                episode = dataclasses.replace(episode, columns={**episode.columns, "image": images})
            writer.add_episode(episode)
    writer.close()
    return root


# ------------------------------------------------------------------------------------------------ readers
def gea_windows(root: Path, seed: int, **options: Any) -> Iterator[dict[str, Any]]:
    """One pass of ``WindowDataset`` (its default block shuffle; ``options``: other reader settings)."""
    return iter(WindowDataset(root, context=CONTEXT, loop=False, seed=seed, **options))


class EpisodeWindows:
    """Every window of one Minari episode, cut the cheapest way: views into arrays padded once per episode.

    A window holds what gea's reader yields for training: ``images`` (context x H x W x 3, zeros before the
    episode start), ``actions`` (-1 before the start), ``mask``, ``target_action``, ``episode_index``, ``step``.
    Minari stores N + 1 observations per episode: the last one (after the final action) is not a window.
    """

    def __init__(self, episode: Any) -> None:
        pad = CONTEXT - 1
        images = episode.observations["image"][:-1]
        self.images = np.concatenate([np.zeros((pad, *images.shape[1:]), np.uint8), images])
        self.actions = np.concatenate([np.full(pad, -1, np.int64), np.asarray(episode.actions, np.int64)])
        self.id, self.length = int(episode.id), len(episode.actions)

    def window(self, step: int) -> dict[str, Any]:
        """The window ending at ``step``."""
        actions = self.actions[step : step + CONTEXT]
        return {
            "images": self.images[step : step + CONTEXT],
            "actions": actions,
            "mask": actions >= 0,
            "target_action": actions[-1],
            "episode_index": self.id,
            "step": step,
        }


def _shuffled_windows(episodes: list[EpisodeWindows], rng: np.random.Generator) -> Iterator[dict[str, Any]]:
    keys = [(index, step) for index, episode in enumerate(episodes) for step in range(episode.length)]
    for position in rng.permutation(len(keys)):
        index, step = keys[position]
        yield episodes[index].window(step)


def minari_loader_windows(dataset_id: str, seed: int) -> Iterator[dict[str, Any]]:
    """``DataLoader(MinariDataset, batch_size=8, shuffle=True)`` (Minari's PyTorch tutorial); each batch's windows
    in shuffled order."""
    import minari
    import torch
    from torch.utils.data import DataLoader

    dataset = minari.load_dataset(dataset_id)
    loader = DataLoader(
        dataset,
        batch_size=MINARI_BATCH,
        shuffle=True,
        collate_fn=lambda batch: batch,
        generator=torch.Generator().manual_seed(seed),
    )
    rng = np.random.default_rng(seed)
    for batch in loader:
        yield from _shuffled_windows([EpisodeWindows(episode) for episode in batch], rng)


def minari_memory_windows(dataset_id: str, seed: int) -> Iterator[dict[str, Any]]:
    """``list(MinariDataset.iterate_episodes())`` into memory, then every window in a global shuffled order."""
    import minari

    episodes = [EpisodeWindows(episode) for episode in minari.load_dataset(dataset_id).iterate_episodes()]
    yield from _shuffled_windows(episodes, np.random.default_rng(seed))


def timed_pass(windows: Callable[[], Iterator[dict[str, Any]]]) -> tuple[float, float, list[tuple[int, int]]]:
    """Wall-clock and CPU seconds (this process, all its threads) of one full pass (opening the dataset included),
    and the (episode, step) key of every window.

    Every pass starts after a full garbage collection, so none pays for a collection of what earlier passes (of
    any side) left behind: a full collection of this process takes ~0.1 s, as long as a whole raw-image pass.
    """
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    keys = [(int(window["episode_index"]), int(window["step"])) for window in windows()]
    return time.perf_counter() - start, time.process_time() - cpu, keys


def loading_section(root: Path, collected: list[Episode], repeats: int, record: dict[str, Any]) -> list[str]:
    """Window loading rows: gea in three storage formats vs Minari's two idiomatic readers, in turns."""
    episodes, minari_id = len(collected), "bench/bosslevel-v0"
    datasets = {fmt: write_dataset(root / fmt, collected, fmt) for fmt in ("png", "jpeg", "raw")}
    export_minari(datasets["png"], minari_id)  # HDF5; Minari 0.5 stores image spaces as JPEG
    sides: dict[str, tuple[str, Callable[[int], Iterator[dict[str, Any]]]]] = {
        "gea-png": (
            "gea `WindowDataset`, PNG images (2 decoding threads)",
            lambda s: gea_windows(datasets["png"], s),
        ),
        "gea-png-1": (
            "gea `WindowDataset`, PNG images, one decoding thread (`decode_threads=1`)",
            lambda s: gea_windows(datasets["png"], s, decode_threads=1),
        ),
        "gea-jpeg": ("gea `WindowDataset`, JPEG images", lambda s: gea_windows(datasets["jpeg"], s)),
        "gea-raw": (
            "gea `WindowDataset`, raw images (`image_format=raw`, the default of `gea collect`)",
            lambda s: gea_windows(datasets["raw"], s),
        ),
        "minari-loader": (
            "Minari: `DataLoader(minari.load_dataset(id), batch_size=8, shuffle=True)`, each batch's windows shuffled",
            lambda s: minari_loader_windows(minari_id, s),
        ),
        "minari-memory": (
            "Minari: `list(minari.load_dataset(id).iterate_episodes())`, all windows shuffled",
            lambda s: minari_memory_windows(minari_id, s),
        ),
    }
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in sides}
    windows: dict[str, list[int]] = {name: [] for name in sides}
    keys: dict[str, list[tuple[int, int]]] = {}
    for _, make in sides.values():
        timed_pass(lambda make=make: make(0))  # warm the page cache and imports
    for repeat in range(repeats):
        for name in side_order(list(sides), repeat):
            elapsed, cpu, seen = timed_pass(lambda name=name, repeat=repeat: sides[name][1](repeat))
            seconds[name].append(elapsed)
            cpu_seconds[name].append(cpu)
            windows[name].append(len(seen))
            keys[name] = sorted(seen)
    same_windows = all(keys[name] == keys["gea-png"] for name in sides)
    rates = {name: [count / s for count, s in zip(windows[name], seconds[name], strict=True)] for name in sides}
    best_minari = max(("minari-loader", "minari-memory"), key=lambda name: statistics.median(rates[name]))
    # The baseline of each repeat is the faster of Minari's two readers in that repeat.
    best_rates = [max(pair) for pair in zip(rates["minari-loader"], rates["minari-memory"], strict=True)]
    cpu_rates = {name: [n / s for n, s in zip(windows[name], cpu_seconds[name], strict=True)] for name in sides}
    best_cpu = [max(pair) for pair in zip(cpu_rates["minari-loader"], cpu_rates["minari-memory"], strict=True)]
    lines = [
        "",
        "## Window loading: gea `WindowDataset` vs Minari's readers (context 3, decoded images, actions, mask)",
        "",
        f"The same {episodes} BabyAI BossLevel expert episodes ({windows['gea-png'][0]:,} windows), written by gea in",
        "three image formats and exported to Minari 0.5.3 (`export_minari`, HDF5). One pass per run; each run opens",
        f"its dataset; all {len(sides)} readers take turns in each repeat (order reversed every other repeat), after",
        "one untimed pass each. Every reader yields every window exactly once per pass (checked: same (episode, step)",
        f"keys on every side: {'yes' if same_windows else 'NO'}). Minari's windows are the cheapest possible: views",
        "into each episode's arrays padded once. Minari 0.5 stores any uint8 image space as JPEG in its files (lossy)",
        "and decodes it when an episode is read; gea's PNG and raw formats are lossless. gea decodes each frame once",
        "per block of row groups (on 2 threads by default; Minari's readers decode in the calling thread, as does the",
        "`decode_threads=1` row) and copies every window's arrays out of it; raw frames need no decoding.",
        "The CPU-time column divides windows by the CPU seconds the process used in the pass (all its threads):",
        "other jobs on the shared cores stretch wall-clock passes (a short pass more, in relative terms, when one",
        "preemption lands in it), not CPU time; wall-clock is what a user waits for. Every pass starts after a full",
        "garbage collection (`gc.collect()`), so no pass pays for the garbage of earlier ones.",
        "",
        "| reader | windows/s, median (min-max) | vs the faster Minari reader of each repeat | same, by CPU time |",
        "|---|---:|---:|---:|",
    ]
    for name, (label, _) in sides.items():
        ratio, cpu_ratio = paired_ratios(rates[name], best_rates), paired_ratios(cpu_rates[name], best_cpu)
        lines.append(
            f"| {label} | {median_spread(rates[name])} | {median_spread(ratio, 2, 'x')} "
            f"| {median_spread(cpu_ratio, 2, 'x')} |"
        )
    sizes = {name: sum(f.stat().st_size for f in path.rglob("*.parquet")) for name, path in datasets.items()}
    minari_bytes = sum(f.stat().st_size for f in (root / "minari").rglob("*.hdf5"))
    lines += [
        "",
        f"Faster Minari reader by median: {sides[best_minari][0]}. Ratios: median (min-max) over repeats of each "
        "reader's rate over the faster Minari reader's rate in the same repeat. "
        f"Storage: gea PNG {sizes['png'] / 2**20:.1f} MiB, JPEG "
        f"{sizes['jpeg'] / 2**20:.1f} MiB, raw {sizes['raw'] / 2**20:.1f} MiB (Parquet, Snappy); Minari "
        f"{minari_bytes / 2**20:.1f} MiB (HDF5, JPEG).",
    ]
    record["loading"] = {
        "episodes": episodes,
        "windows": windows,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "windows_per_s": rates,
        "same_windows": same_windows,
        "best_minari": best_minari,
        "ratio_vs_best_minari": {name: paired_ratios(rates[name], best_rates) for name in sides},
        "cpu_ratio_vs_best_minari": {name: paired_ratios(cpu_rates[name], best_cpu) for name in sides},
        "bytes": {**sizes, "minari": minari_bytes},
    }
    print("\n".join(lines), flush=True)
    return lines


def storage_section(root: Path, env_ids: list[str], episodes: int, repeats: int, record: dict[str, Any]) -> list[str]:
    """Disk size of the same 64 px episodes stored as PNG, JPEG and raw frames, and gea's window loading rate on
    each (one pass per run, formats in turns), per env."""
    lines = [
        "",
        "## Image storage formats: disk size and gea's loading rate (64 px frames)",
        "",
        f"The same {episodes} expert episodes per env written in each format (Parquet, Snappy, row groups of ~500",
        f"steps); windows/s: one `WindowDataset` pass (context {CONTEXT}), median (min-max) of {repeats} runs, formats",
        "in turns. PNG compresses each frame alone; Snappy also finds the repeats between the consecutive raw frames",
        "of a row group (it looks back 64 KiB, about five 64 px frames).",
        "",
        "| env | steps | PNG KiB/step | JPEG KiB/step | raw KiB/step | raw / PNG | PNG windows/s | raw windows/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    formats = ("png", "jpeg", "raw")
    for env_id in env_ids:
        collected = collect_episodes(env_id, episodes)
        steps = sum(episode.length for episode in collected)
        folder = root / "storage" / env_id.replace(":", "_")
        datasets = {fmt: write_dataset(folder / fmt, collected, fmt) for fmt in formats}
        kib = {
            fmt: sum(f.stat().st_size for f in (path / "data").rglob("*.parquet")) / 1024 / steps
            for fmt, path in datasets.items()
        }
        rates: dict[str, list[float]] = {"png": [], "raw": []}
        windows: dict[str, list[int]] = {"png": [], "raw": []}
        for repeat in range(repeats):
            for fmt in side_order(list(rates), repeat):
                elapsed, _, keys = timed_pass(lambda path=datasets[fmt], repeat=repeat: gea_windows(path, repeat))
                rates[fmt].append(len(keys) / elapsed)
                windows[fmt].append(len(keys))
        record.setdefault("storage", {})[env_id] = {
            "steps": steps,
            "kib_per_step": kib,
            "windows": windows,
            "windows_per_s": rates,
        }
        lines.append(
            f"| {env_id} | {steps:,} | {kib['png']:.2f} | {kib['jpeg']:.2f} | {kib['raw']:.2f} "
            f"| {kib['raw'] / kib['png']:.2f} | {median_spread(rates['png'])} | {median_spread(rates['raw'])} |"
        )
        print(lines[-1], flush=True)
    return lines


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


def memory_section(root: Path, collected: list[Episode], record: dict[str, Any]) -> list[str]:
    """Peak memory of a full pass over a dataset and over one 10x larger (same episodes written 10 times)."""
    small = write_dataset(root / "memory-1x", collected)
    large = write_dataset(root / "memory-10x", collected, repeat=10)
    small_mem, large_mem = reader_peak_memory(small), reader_peak_memory(large)
    lines = [
        "",
        "## Reader peak memory (full pass, fresh process)",
        "",
        "| dataset | windows | RSS after imports MiB | peak RSS MiB | peak traced allocations MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (base, peak, traced, count) in (("1x", small_mem), ("10x", large_mem)):
        lines.append(f"| {name} | {count:,} | {base / 1024:.0f} | {peak / 1024:.0f} | {traced / 1024:.1f} |")
    rss_growth, traced_growth = large_mem[1] / small_mem[1] - 1, large_mem[2] / small_mem[2] - 1
    lines += [
        "",
        f"Growth 1x -> 10x: peak RSS {100 * rss_growth:+.1f}%, peak traced allocations {100 * traced_growth:+.1f}%",
    ]
    record["memory"] = {"1x": small_mem, "10x": large_mem}
    print("\n".join(lines), flush=True)
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run the chosen sections and write the Markdown results and the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer episodes and repeats")
    parser.add_argument("--sections", default="collection,loading,memory", help="comma-separated subset")
    parser.add_argument("--collection", default=",".join(COLLECTION), help=f"experts from {list(COLLECTION)}")
    parser.add_argument("--repeats", type=int, default=0, help="repeats per comparison (default 5, --quick 2)")
    parser.add_argument("--collect-episodes", type=int, default=0, help="episodes per env and run in collection")
    parser.add_argument("--episodes", type=int, default=0, help="BossLevel episodes to load (default 40)")
    parser.add_argument("--storage-envs", default=",".join(STORAGE_ENVS), help="envs of the storage section")
    parser.add_argument("--storage-episodes", type=int, default=0, help="episodes per env in storage (default 10)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data.md"))
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    collect_episodes_per_env = args.collect_episodes or (4 if args.quick else 12)
    episodes = args.episodes or (20 if args.quick else 40)
    sections = set(filter(None, args.sections.split(",")))
    command = "python benchmarks/data.py " + " ".join(argv if argv is not None else sys.argv[1:])
    record: dict[str, Any] = {"command": command.strip(), "load_average_start": load_average(), "collection": {}}
    lines = [
        "# Data benchmarks",
        "",
        f"Command: `{command.strip()}` ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {os.cpu_count()} CPU cores, shared with other jobs; load average (1, 5, 15 min) at the start "
        f"{record['load_average_start']}; {repeats} repeats per comparison, sides interleaved.",
        "",
    ]
    if "collection" in sections:
        experts = list(filter(None, args.collection.split(",")))
        lines += collection_section(experts, collect_episodes_per_env, repeats, record)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["MINARI_DATASETS_PATH"] = str(root / "minari")
        collected = collect_episodes("babyai:BossLevel", episodes) if sections & {"loading", "memory"} else []
        if "loading" in sections:
            lines += loading_section(root, collected, repeats, record)
        if "memory" in sections:
            lines += memory_section(root, collected, record)
        if "storage" in sections:
            storage_envs = list(filter(None, args.storage_envs.split(",")))
            storage_episodes = args.storage_episodes or (2 if args.quick else 10)
            lines += storage_section(root, storage_envs, storage_episodes, repeats, record)
    record["load_average_end"] = load_average()
    lines += ["", f"Load average at the end: {record['load_average_end']}", ""]
    sidecar = write_results(args.out, "\n".join(lines), record)
    print(f"wrote {args.out} and {sidecar}")


if __name__ == "__main__":
    main()
