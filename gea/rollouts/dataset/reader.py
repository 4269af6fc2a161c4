"""Stream training windows from one or more episode datasets, mixed by weight and split across ranks.

Memory is bounded by the block size, not the dataset size: the reader keeps 8 bytes of numbers per row
group (never a frame index, never a Python object per row group), reads ``block_row_groups`` row groups
at a time, decodes their images once, and yields that block's windows in a seeded random order (a
bounded shuffle). ``benchmarks/results/data_scale.md`` measures it on 10M steps and 2.2M episodes.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
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
        block_row_groups: int,
        decode_images: bool,
        loop: bool,
    ) -> None:
        self.key, self.embodiment, self.action_kind = key, embodiment, action_kind
        self.units, self.seed, self.block_row_groups = units, seed, block_row_groups
        self.rank, self.world = shard
        self.decode_images, self.loop = decode_images, loop
        self.position = [0, 0, 0]  # epoch, block, offset within block
        self._block: Block | None = None
        self._order: np.ndarray = np.zeros(0, np.int64)
        self._loaded: tuple[int, int] | None = None
        self._epoch_units: tuple[int, np.ndarray, bool] | None = None

    def _my_units(self, epoch: int) -> tuple[np.ndarray, bool]:
        """This shard's unit numbers for ``epoch``, and whether windows (not units) are split across shards."""
        if self._epoch_units is None or self._epoch_units[0] != epoch:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.units))
            if len(order) >= self.world:
                self._epoch_units = (epoch, order[self.rank :: self.world], False)
            else:  # fewer row groups than shards: every shard reads all, keeps every world-th window
                self._epoch_units = (epoch, order, True)
        return self._epoch_units[1], self._epoch_units[2]

    def _load(self, epoch: int, block: int) -> bool:
        """Load block ``block`` of ``epoch``; False if the epoch has no such block."""
        units, split_windows = self._my_units(epoch)
        chosen = units[block * self.block_row_groups : (block + 1) * self.block_row_groups]
        if not len(chosen):
            return False
        tables = []
        for unit in chosen:
            path = self.units.path(unit)
            shard = open_shard(path, self.units.root)
            table = read_row_group(shard, path, self.units.root, int(self.units.row_group[unit]), WINDOW_COLUMNS)
            tables.append(table.filter(pc.equal(table["embodiment"], self.embodiment)))
        self._block = Block(pa.concat_tables(tables), self.action_kind, self.decode_images)
        rows = np.random.default_rng([self.seed, epoch, block]).permutation(len(self._block))
        self._order = rows[rows % self.world == self.rank] if split_windows else rows
        self._loaded = (epoch, block)
        return True

    def next(self, context: int) -> dict[str, Any] | None:
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
                return self._block.window(int(self._order[offset]), context)
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
        keys, inverse = np.unique((shard[mine] << 32) | group[mine], return_inverse=True)  # sorted: (shard, group)
        windows = np.bincount(inverse.reshape(-1), weights=length[mine], minlength=len(keys)).astype(np.int64)
        units = _Units(
            root, tuple(sorted(names)), (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32), windows
        )
        if len(units):
            result[embodiment] = units
    return result


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
    ) -> None:
        if context < 1:
            raise ConfigError(f"context must be >= 1, got {context}")
        self.context, self.seed, self.loop = context, seed, loop
        self.block_row_groups, self.decode_images = block_row_groups, decode_images
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
                self.block_row_groups,
                self.decode_images,
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
            sample = self._streams[choice].next(self.context)
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
