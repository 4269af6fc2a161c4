"""One episode in memory, built step by step, before the writer gives it an index and a shard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from gea.errors import InvalidActionError
from gea.rollouts.dataset.images import encode_image
from gea.rollouts.dataset.schema import ROW_SCHEMA
from gea.spec import ActionSpec, ContinuousActions, DiscreteActions


def encode_action(spec: ActionSpec, action: Any) -> tuple[list[float] | None, int | None, str | None]:
    """Split a native action into the ``(action, action_index, action_text)`` columns for its kind."""
    if isinstance(spec, ContinuousActions):
        vector = np.asarray(action, dtype=np.float32).reshape(-1)
        if vector.shape != (spec.dim,):
            raise InvalidActionError(f"expected a continuous action of shape ({spec.dim},), got {vector.shape}")
        return vector.tolist(), None, None
    if isinstance(spec, DiscreteActions):
        index = spec.names.index(action) if isinstance(action, str) else int(np.asarray(action))
        if not 0 <= index < spec.n:
            raise InvalidActionError(f"discrete action {index} is out of range [0, {spec.n})")
        return None, index, spec.names[index]
    if not isinstance(action, str):
        raise InvalidActionError(f"expected a text action, got {type(action).__name__}")
    return None, None, action


@dataclass
class Episode:
    """The rows of one episode (all columns but ``episode_index``) and what identifies it."""

    embodiment: str
    task: str
    seed: int | None = None
    attempt: int = 0
    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in ROW_SCHEMA.names[1:]})

    @property
    def length(self) -> int:
        """Number of steps."""
        return len(self.columns["step"])

    @property
    def total_return(self) -> float:
        """Sum of rewards."""
        return float(np.sum(np.asarray(self.columns["reward"], dtype=np.float64)))

    @property
    def success(self) -> bool:
        """Whether the task counted as solved at any step."""
        return bool(any(self.columns["success"]))

    def to_table(self, episode_index: int) -> pa.Table:
        """The episode's rows as an Arrow table of ``ROW_SCHEMA``."""
        arrays = {"episode_index": [episode_index] * self.length, **self.columns}
        return pa.Table.from_pydict(arrays, schema=ROW_SCHEMA)


class EpisodeBuilder:
    """Appends steps to an ``Episode``, encoding images and splitting actions into their columns."""

    def __init__(
        self,
        embodiment: str,
        task: str,
        action_spec: ActionSpec,
        image_format: str = "png",
        seed: int | None = None,
        attempt: int = 0,
    ) -> None:
        self.episode = Episode(embodiment, task, seed, attempt)
        self.action_spec = action_spec
        self.image_format = image_format

    def add_step(
        self,
        observation: dict[str, Any],
        action: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        success: bool,
    ) -> None:
        """Record observation ``o_t``, action ``a_t`` and the outcome of the step."""
        columns = self.episode.columns
        image = observation.get("image")
        proprio = observation.get("proprio")
        vector, index, text = encode_action(self.action_spec, action)
        columns["step"].append(len(columns["step"]))
        columns["embodiment"].append(self.episode.embodiment)
        columns["task"].append(self.episode.task)
        columns["instruction"].append(str(observation.get("instruction", "")))
        columns["image"].append(None if image is None else encode_image(image, self.image_format))
        columns["proprio"].append(None if proprio is None else np.asarray(proprio, np.float32).reshape(-1).tolist())
        columns["action"].append(vector)
        columns["action_index"].append(index)
        columns["action_text"].append(text)
        columns["reward"].append(float(reward))
        columns["terminated"].append(bool(terminated))
        columns["truncated"].append(bool(truncated))
        columns["success"].append(bool(success))
