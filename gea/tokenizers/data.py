"""Continuous actions for fitting a tokenizer, from ``.npy``/``.npz`` files or a Parquet episode dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gea.errors import ConfigError


@dataclass
class ActionData:
    """Per-embodiment (N, dim) float32 actions and, where known, each row's episode key."""

    actions: dict[str, np.ndarray]
    episodes: dict[str, np.ndarray | None]

    def split(self, holdout_fraction: float, seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Training and held-out actions: whole episodes are held out where episodes are known, else rows."""
        rng = np.random.default_rng(seed)
        train, heldout = {}, {}
        for name, actions in self.actions.items():
            episodes = self.episodes.get(name)
            keys = episodes if episodes is not None else np.arange(len(actions))
            unique = np.unique(keys)
            count = round(holdout_fraction * len(unique))
            if holdout_fraction > 0 and len(unique) > 1:
                count = min(max(count, 1), len(unique) - 1)
            chosen = np.isin(keys, rng.choice(unique, size=count, replace=False))
            train[name], heldout[name] = actions[~chosen], actions[chosen]
        return train, heldout


def load_actions(path: str | Path, embodiment: str = "default") -> ActionData:
    """Read continuous actions from ``path``.

    * ``.npy``: one (N, dim) array, named ``embodiment``;
    * ``.npz``: one array per embodiment, (N, dim) or (episodes, steps, dim);
    * a folder: Parquet shards of an episode dataset (columns ``embodiment``, ``episode_index``, ``action``);
      embodiments whose ``action`` column is not a list of floats (discrete or text actions) are skipped.
    """
    source = Path(path)
    if source.is_dir():
        return _load_parquet(source)
    if not source.is_file():
        raise ConfigError(f"action data {source} does not exist; pass data=<file.npy|file.npz|dataset folder>")
    if source.suffix == ".npy":
        return _from_arrays({embodiment: np.load(source, allow_pickle=False)})
    if source.suffix == ".npz":
        with np.load(source, allow_pickle=False) as archive:
            return _from_arrays({name: archive[name] for name in archive.files})
    raise ConfigError(f"unsupported action data {source}: use a .npy or .npz file or a Parquet dataset folder")


def _from_arrays(arrays: dict[str, np.ndarray]) -> ActionData:
    actions, episodes = {}, {}
    for name, array in arrays.items():
        if array.ndim == 3:
            episodes[name] = np.repeat(np.arange(array.shape[0]), array.shape[1])
            array = array.reshape(-1, array.shape[2])
        elif array.ndim == 2:
            episodes[name] = None
        else:
            raise ConfigError(f"actions {name!r} must be (N, dim) or (episodes, steps, dim); got shape {array.shape}")
        actions[name] = array.astype(np.float32)
    return ActionData(actions, episodes)


def _load_parquet(folder: Path) -> ActionData:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = sorted(file for file in folder.rglob("*.parquet") if "meta" not in file.relative_to(folder).parts)
    if not files:
        raise ConfigError(f"no Parquet files under {folder}; point data= at an episode dataset folder")
    actions: dict[str, list[np.ndarray]] = {}
    episodes: dict[str, list[np.ndarray]] = {}
    for file in files:
        try:
            columns = ["embodiment", "episode_index", "action"]
            table = pq.read_table(file, columns=columns, page_checksum_verification=True)
        except (OSError, pa.ArrowException) as error:
            raise ConfigError(
                f"{file} is unreadable ({error}); if {folder} is a gea dataset, `gea dataset verify {folder}` checks "
                f"every shard and `gea dataset repair {folder}` sets damaged ones aside"
            ) from error
        action_type = table.schema.field("action").type
        if not (pa.types.is_list(action_type) or pa.types.is_fixed_size_list(action_type)):
            continue
        if not pa.types.is_floating(action_type.value_type):
            continue
        for name in pc.unique(table["embodiment"]).to_pylist():
            rows = table.filter(pc.and_(pc.equal(table["embodiment"], name), pc.is_valid(table["action"])))
            if len(rows) == 0:  # a discrete or text embodiment: its continuous ``action`` column is null
                continue
            column = rows["action"].combine_chunks()
            values = np.asarray(column.flatten(), np.float32)
            array = values.reshape(len(rows), -1)
            keys = np.asarray(rows["episode_index"], np.int64)
            actions.setdefault(name, []).append(array)
            episodes.setdefault(name, []).append(keys)
    if not actions:
        raise ConfigError(f"the dataset at {folder} holds no continuous (list of float) actions to fit on")
    return ActionData(
        {name: np.concatenate(parts) for name, parts in actions.items()},
        {name: np.concatenate(parts) for name, parts in episodes.items()},
    )
