"""Stream training windows from one or more episode datasets, mixed by weight and split across ranks.

Memory is bounded by the block size, not the dataset size: the reader keeps 8 bytes of numbers per row
group (never a frame index, never a Python object per row group), reads ``block_row_groups`` row groups
at a time, decodes each of their frames once, and yields that block's windows in a seeded random order (a
bounded shuffle). Compressed images are decoded on ``decode_threads``; with ``prefetch=True`` a background thread
also reads the next block while this one's windows are cut (at most two blocks in memory).
``benchmarks/results/data_scale.md`` measures it on 10M steps and 2.2M episodes.
"""

from __future__ import annotations

import bisect
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from gea.errors import ConfigError
from gea.rollouts.dataset.integrity import damaged, open_shard, read_row_group, shard_problems
from gea.rollouts.dataset.meta import load_info, read_checksums, read_episode_index
from gea.rollouts.dataset.windows import WINDOW_COLUMNS, Block

DatasetPaths = str | Path | Sequence[str | Path] | Mapping[str | Path, float]


@dataclass(frozen=True)
class _Units:
    """The row groups of one embodiment in one dataset, as compact arrays (a few bytes per row group).

    Unit ``i`` is row group ``row_group[i]`` of shard file ``root / shard_names[shard[i]]``, restricted to the
    embodiment's episodes, which hold ``windows[i]`` steps.
    """

    root: Path
    shard_names: tuple[str, ...]
    shard: np.ndarray
    row_group: np.ndarray
    windows: np.ndarray

    def __len__(self) -> int:
        return len(self.shard)

    def path(self, unit: int) -> Path:
        """The shard file of unit ``unit``."""
        return self.root / self.shard_names[int(self.shard[unit])]


class _Stream:
    """Windows of one (dataset, embodiment) pair in seeded block-shuffled order, for one reader shard."""

    def __init__(
        self,
        key: str,
        embodiment: str,
        action_kind: str,
        units: _Units,
        seed: int,
        shard: tuple[int, int],
        context: int,
        block_row_groups: int,
        decode_images: bool,
        decode_threads: int,
        prefetch: bool,
        loop: bool,
    ) -> None:
        self.key, self.embodiment, self.action_kind = key, embodiment, action_kind
        self.units, self.seed, self.block_row_groups = units, seed, block_row_groups
        self.rank, self.world = shard
        self.context, self.decode_images, self.decode_threads = context, decode_images, decode_threads
        self.prefetch, self.loop = prefetch, loop
        self.position = [0, 0, 0]  # epoch, block, offset within block
        self._block: Block | None = None
        self._order: np.ndarray = np.zeros(0, np.int64)
        self._loaded: tuple[int, int] | None = None
        self._epoch_units: tuple[int, np.ndarray, bool] | None = None
        self._prefetcher: ThreadPoolExecutor | None = None
        self._decoders: ThreadPoolExecutor | None = None
        self._ahead: tuple[tuple[int, int], Future[tuple[Block, np.ndarray] | None]] | None = None

    def _my_units(self, epoch: int) -> tuple[np.ndarray, bool]:
        """This shard's unit numbers for ``epoch``, and whether windows (not units) are split across shards."""
        cached = self._epoch_units  # one read: the prefetch thread may replace it meanwhile
        if cached is None or cached[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.units))
            # With fewer row groups than shards, every shard reads all and keeps every world-th window.
            split = len(order) < self.world
            cached = (epoch, order if split else order[self.rank :: self.world], split)
            self._epoch_units = cached
        return cached[1], cached[2]

    def _read(self, epoch: int, block: int) -> tuple[Block, np.ndarray] | None:
        """Block ``block`` of ``epoch`` (images decoded) and this shard's window order in it; None if the epoch has
        no such block. Reads nothing but its arguments and fixed settings, so it can run on the prefetch thread."""
        units, split_windows = self._my_units(epoch)
        chosen = units[block * self.block_row_groups : (block + 1) * self.block_row_groups]
        if not len(chosen):
            return None
        tables, shards = [], {}
        for unit in chosen:
            path = self.units.path(unit)
            if path not in shards:  # a block's row groups mostly share a shard: open it once
                shards[path] = open_shard(path, self.units.root)
            group = int(self.units.row_group[unit])
            # In this thread: one column (the images) dominates, so Arrow's pool would mostly add handoffs.
            table = read_row_group(shards[path], path, self.units.root, group, WINDOW_COLUMNS, use_threads=False)
            mine = pc.equal(table["embodiment"], self.embodiment)
            whole = mine.null_count == 0 and pc.all(mine).as_py()  # the common case: no copy of the row group
            tables.append(table if whole else table.filter(mine))
        if self.decode_images and self.decode_threads > 1 and self._decoders is None:
            self._decoders = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="gea-image-decoder")
        loaded = Block(tables, self.action_kind, self.context, self.decode_images, self._decoders, self.decode_threads)
        rows = np.random.default_rng([self.seed, epoch, block]).permutation(len(loaded))
        return loaded, rows[rows % self.world == self.rank] if split_windows else rows

    def _load(self, epoch: int, block: int) -> bool:
        """Make block ``block`` of ``epoch`` current (False if the epoch has no such block); with ``prefetch``,
        start reading the next one on a background thread (file reads and image decoding release the GIL)."""
        ahead, self._ahead = self._ahead, None
        result = ahead[1].result() if ahead is not None and ahead[0] == (epoch, block) else self._read(epoch, block)
        if result is None:
            return False
        (self._block, self._order), self._loaded = result, (epoch, block)
        if not self.prefetch:
            return True
        if self._prefetcher is None:
            self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gea-window-reader")
        self._ahead = ((epoch, block + 1), self._prefetcher.submit(self._read, epoch, block + 1))
        return True

    def next(self) -> dict[str, Any] | None:
        """The next window, or None when the stream is finished (only when not looping)."""
        while True:
            epoch, block, offset = self.position
            if self._loaded != (epoch, block) and not self._load(epoch, block):
                if not self.loop or block == 0:  # the end of a single pass, or nothing for this shard
                    return None
                self.position = [epoch + 1, 0, 0]
                continue
            if offset < len(self._order):
                self.position[2] += 1
                assert self._block is not None
                return self._block.window(int(self._order[offset]))
            self.position = [epoch, block + 1, 0]


def _as_weighted_paths(datasets: DatasetPaths) -> dict[Path, float]:
    if isinstance(datasets, (str, Path)):
        return {Path(datasets): 1.0}
    if isinstance(datasets, Mapping):
        return {Path(path): float(weight) for path, weight in datasets.items()}
    return {Path(path): 1.0 for path in datasets}


def _default_shard(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        initialized = dist.is_available() and dist.is_initialized()
        rank = rank if rank is not None else (dist.get_rank() if initialized else 0)
        world_size = world_size if world_size is not None else (dist.get_world_size() if initialized else 1)
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}")
    return rank, world_size


def _units_by_embodiment(root: Path, index: pa.Table) -> dict[str, _Units]:
    """Each embodiment's row groups and their step counts, from ``read_episode_index`` (dictionary-encoded).

    Only numeric arrays are built (no Python object per episode or row group), so startup time and memory grow
    with the number of row groups at a few bytes each, not with the text of the metadata.
    """
    if index.num_rows == 0:
        return {}
    shards, embodiments = index["shard"].chunk(0), index["embodiment"].chunk(0)
    names = shards.dictionary.to_pylist()
    name_rank = np.empty(len(names), np.int64)  # dictionary code -> position in name order
    name_rank[np.argsort(names)] = np.arange(len(names))
    shard = name_rank[shards.indices.to_numpy()]
    group = index["row_group"].to_numpy().astype(np.int64)
    length = index["length"].to_numpy()
    codes = embodiments.indices.to_numpy()
    result: dict[str, _Units] = {}
    for code, embodiment in enumerate(embodiments.dictionary.to_pylist()):
        mine = codes == code
        keys, windows = _sum_by_key((shard[mine] << 32) | group[mine], length[mine])  # ordered by (shard, group)
        units = _Units(
            root, tuple(sorted(names)), (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32), windows
        )
        if len(units):
            result[embodiment] = units
    return result


def _sum_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` in increasing order and the sum of ``values`` for each (linear when ``keys`` are
    already sorted, as episodes are committed shard after shard)."""
    if len(keys) and bool(np.all(keys[1:] >= keys[:-1])):
        starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1])
        return keys[starts], np.add.reduceat(values.astype(np.int64), starts)
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, np.bincount(inverse.reshape(-1), weights=values, minlength=len(unique)).astype(np.int64)


class WindowDataset(IterableDataset[dict[str, Any]]):
    """Training windows: the last ``context`` observations and actions of an episode, with its instruction.

    Each sample holds ``images`` (context x H x W x 3 uint8, or encoded bytes with ``decode_images=False``),
    ``proprio``, ``actions`` (continuous: float32 [context, dim]; discrete: int64 indices, -1 for padding;
    text: strings), ``action_text``, ``mask`` (False for padding before the episode's first step),
    ``target_action`` (the last action), ``instruction``, ``embodiment``, ``task``, ``episode_index``, ``step``.

    ``datasets``: one path, a list, or ``{path: weight}``. Streams are (dataset, embodiment) pairs; the
    next sample comes from a stream drawn with probability proportional to dataset weight x
    ``embodiment_weights.get(embodiment, 1)``. Row groups are split across ``rank``/``world_size``
    (defaults: ``torch.distributed`` when initialized) and DataLoader workers. The order is a function
    of ``seed``; ``state_dict``/``load_state_dict`` resume exactly where iteration stopped (in-process
    iteration; with DataLoader workers, each worker restarts from the saved state of the main copy).
    ``loop=False`` makes one pass; otherwise streams repeat with a new order each epoch.

    Speed: each frame is decoded (or, for ``image_format=raw``, copied) once per block, however many windows show
    it. ``decode_threads`` decode a block's PNG/JPEG/WebP frames in parallel (default: 2, or 1 inside each of
    several DataLoader workers); raw frames need no decoding. ``prefetch=True`` reads the next block on a
    background thread while the current one is served: worth it when reads wait on slow storage; on busy CPUs the
    two threads contend for the GIL (a pass got slower in our runs on 2 shared cores), so it is off by default.
    """

    def __init__(
        self,
        datasets: DatasetPaths,
        context: int = 3,
        embodiment_weights: Mapping[str, float] | None = None,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        block_row_groups: int = 2,
        decode_images: bool = True,
        loop: bool = True,
        decode_threads: int | None = None,
        prefetch: bool = False,
    ) -> None:
        if context < 1:
            raise ConfigError(f"context must be >= 1, got {context}")
        if decode_threads is not None and decode_threads < 1:
            raise ConfigError(f"decode_threads must be >= 1 (or None for the default), got {decode_threads}")
        self.context, self.seed, self.loop = context, seed, loop
        self.block_row_groups, self.decode_images, self.decode_threads = block_row_groups, decode_images, decode_threads
        self.prefetch = prefetch
        self.rank, self.world_size = _default_shard(rank, world_size)
        self._sources: list[tuple[str, str, str, _Units, float]] = []
        for number, (path, weight) in enumerate(_as_weighted_paths(datasets).items()):
            root = Path(path)
            info = load_info(root)
            index = read_episode_index(root)
            problems = shard_problems(root, index, read_checksums(root))
            if problems:
                raise damaged(root, problems)
            units_of = _units_by_embodiment(root, index)
            for embodiment, document in sorted(info.get("embodiments", {}).items()):
                units = units_of.get(embodiment)
                share = weight * (embodiment_weights or {}).get(embodiment, 1.0)
                if units is not None and len(units) and share > 0:
                    key = f"{number}:{embodiment}"
                    self._sources.append((key, embodiment, document["action"]["kind"], units, share))
        if not self._sources:
            raise ConfigError(f"no episodes to read in {list(_as_weighted_paths(datasets))}")
        self._state: dict[str, Any] | None = None
        self._streams: list[_Stream] = []
        self._mixer = np.random.default_rng(0)

    @property
    def stream_weights(self) -> dict[str, float]:
        """Sampling probability of each (dataset number:embodiment) stream."""
        total = sum(source[4] for source in self._sources)
        return {source[0]: source[4] / total for source in self._sources}

    def _decode_threads(self, workers: int) -> int:
        """Threads that decode a block's compressed images: ``decode_threads``, else up to 2 (fewer in each of
        several DataLoader workers, which already decode in parallel)."""
        if self.decode_threads is not None:
            return self.decode_threads
        return max(1, min(2, (os.cpu_count() or 1) // workers))

    def _start(self) -> None:
        worker = get_worker_info()
        workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        shard = (self.rank * workers + worker_id, self.world_size * workers)
        self._streams = [
            _Stream(
                key,
                embodiment,
                kind,
                units,
                self.seed + 1_000_003 * i,
                shard,
                self.context,
                self.block_row_groups,
                self.decode_images,
                self._decode_threads(workers),
                self.prefetch,
                self.loop,
            )
            for i, (key, embodiment, kind, units, _) in enumerate(self._sources)
        ]
        self._mixer = np.random.default_rng([self.seed, *shard])
        if self._state is not None:
            for stream in self._streams:
                stream.position = list(self._state["streams"].get(stream.key, [0, 0, 0]))
            if self._state["mixer"] is not None:
                self._mixer.bit_generator.state = self._state["mixer"]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield windows until every stream is finished (never, when looping)."""
        self._start()
        weights = [source[4] for source in self._sources]
        alive = list(range(len(self._streams)))
        cumulative = list(itertools.accumulate(weights))
        while alive:
            # One uniform draw picks a live stream with probability proportional to its weight.
            draw = self._mixer.random() * cumulative[-1]
            choice = alive[min(bisect.bisect_right(cumulative, draw), len(alive) - 1)]
            sample = self._streams[choice].next()
            if sample is None:
                alive.remove(choice)
                cumulative = list(itertools.accumulate(weights[index] for index in alive))
                continue
            yield sample

    def state_dict(self) -> dict[str, Any]:
        """The current position: each stream's (epoch, block, offset) and the mixer's RNG state."""
        if not self._streams:
            return self._state or {"streams": {}, "mixer": None}
        return {
            "streams": {stream.key: list(stream.position) for stream in self._streams},
            "mixer": self._mixer.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a ``state_dict()``; the next ``iter()`` starts where that one stopped."""
        self._state = {"streams": dict(state["streams"]), "mixer": state["mixer"]}
        self._streams = []
