"""Where each file of an episode dataset lives, and how an embodiment's action space is recorded.

```
DATASET/
  README.md              generated dataset card
  data/shard-000000.parquet ...   the steps (schema in gea.rollouts.dataset.schema)
  meta/info.json         format version, image format, totals, one entry per embodiment (action space, image size)
  meta/features.json     every column's type and meaning
  meta/episodes.parquet  one row per episode: shard, row group, row range, length, return, success (commit point)
  meta/checksums.json    sha256, row count and size of every shard
  meta/stats.json        per-embodiment action statistics (for normalization)
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gea.envs.spec import ActionSpec, ContinuousActions, DiscreteActions, EmbodimentSpec, TextActions

FORMAT_NAME = "gea-episodes"
DATA_DIR = "data"
META_DIR = "meta"
SHARD_EPISODES_KEY = b"gea.episodes"


def data_dir(root: Path) -> Path:
    """Folder holding the Parquet shards."""
    return root / DATA_DIR


def meta_path(root: Path, name: str) -> Path:
    """Path of one metadata file (``info.json``, ``episodes.parquet``, ...)."""
    return root / META_DIR / name


def shard_name(number: int) -> str:
    """File name of shard ``number``, relative to the dataset root."""
    return f"{DATA_DIR}/shard-{number:06d}.parquet"


def shard_number(name: str) -> int:
    """The number in a shard's file name (``data/shard-000012.parquet`` -> 12)."""
    return int(Path(name).stem.rsplit("-", 1)[1])


def embodiment_document(spec: EmbodimentSpec, image_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The ``info.json`` entry that records an embodiment's domain, action space and (when known) the
    ``[height, width]`` of its observation images."""
    document: dict[str, Any] = {
        "domain": spec.domain,
        "description": spec.description,
        "simulator": spec.simulator,
        "camera": spec.camera,
        "action": action_document(spec.action),
    }
    if image_size is not None:
        document["image_size"] = [int(image_size[0]), int(image_size[1])]
    return document


def action_document(action: ActionSpec) -> dict[str, Any]:
    """A JSON description of an action space."""
    if isinstance(action, ContinuousActions):
        return {"kind": "continuous", "dim": action.dim, "low": list(action.low), "high": list(action.high)}
    if isinstance(action, DiscreteActions):
        return {"kind": "discrete", "names": list(action.names)}
    return {"kind": "text", "grammar": list(action.grammar), "grid": action.grid, "max_length": action.max_length}


def action_from_document(document: dict[str, Any]) -> ActionSpec:
    """Rebuild the action space recorded by ``action_document``."""
    kind = document["kind"]
    if kind == "continuous":
        return ContinuousActions(int(document["dim"]), tuple(document["low"]), tuple(document["high"]))
    if kind == "discrete":
        return DiscreteActions(tuple(document["names"]))
    return TextActions(tuple(document["grammar"]), int(document["grid"]), int(document["max_length"]))
