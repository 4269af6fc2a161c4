"""Interop with Minari (0.5): import a Minari dataset into this format, export an embodiment to Minari.

Minari stores ``N + 1`` observations per episode; this format stores the ``N`` observations at which an
action was taken. Import drops the final observation; export repeats the last stored one as the final.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from gea.errors import ConfigError, MissingDependencyError
from gea.rollouts.dataset.episode import EpisodeBuilder
from gea.rollouts.dataset.images import decode_image
from gea.rollouts.dataset.layout import action_document, action_from_document
from gea.rollouts.dataset.meta import DatasetMeta
from gea.rollouts.dataset.scan import iter_episodes
from gea.rollouts.dataset.writer import DatasetWriter
from gea.spec import ContinuousActions, DiscreteActions


def _minari() -> Any:
    try:
        import minari
    except ImportError as error:
        raise MissingDependencyError("Minari interop needs minari: pip install 'gea[data]'") from error
    return minari


def _is_image_space(space: spaces.Space[Any]) -> bool:
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[2] == 3


def _action_spec(space: spaces.Space[Any], names: Sequence[str] | None) -> ContinuousActions | DiscreteActions:
    if isinstance(space, spaces.Discrete):
        labels = tuple(names) if names else tuple(f"action {i}" for i in range(int(space.n)))
        return DiscreteActions(labels)
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        low, high = (tuple(float(v) for v in bound) for bound in (space.low, space.high))
        return ContinuousActions(int(space.shape[0]), low, high)
    raise ConfigError(f"cannot import Minari action space {space}: only Discrete and 1-d Box are supported")


def _split_observations(space: spaces.Space[Any], observations: Any, steps: int) -> list[dict[str, Any]]:
    """Per-step ``{image, proprio, instruction}`` dicts from Minari's stacked observations."""
    if isinstance(space, spaces.Dict):
        image = observations.get("image") if "image" in space.spaces else None
        rest = [key for key in space.spaces if key not in ("image", "instruction")]
        proprio = (
            np.concatenate([np.asarray(observations[key], np.float32).reshape(steps + 1, -1) for key in rest], axis=1)
            if rest
            else None
        )
        instruction = observations.get("instruction") if "instruction" in space.spaces else None
    elif _is_image_space(space):
        image, proprio, instruction = observations, None, None
    else:
        image, instruction = None, None
        proprio = np.asarray(observations, np.float32).reshape(steps + 1, -1)
    return [
        {
            "image": None if image is None else np.asarray(image[t], np.uint8),
            "proprio": None if proprio is None else proprio[t],
            "instruction": "" if instruction is None else str(instruction[t]),
        }
        for t in range(steps)
    ]


def import_minari(
    dataset: Any,
    out: str | Path,
    embodiment: str | None = None,
    task: str | None = None,
    instruction: str = "",
    action_names: Sequence[str] | None = None,
    image_format: str = "png",
    shard_max_rows: int = 10_000,
) -> DatasetMeta:
    """Convert a Minari dataset (object or local id) into an episode dataset at ``out``.

    Observations: a uint8 HxWx3 Box becomes ``image``; other Boxes become ``proprio``; a Dict gives
    ``image``/``instruction`` from those keys and concatenates the rest into ``proprio``. ``success``
    comes from ``infos["success"]`` (or ``is_success``) when present.
    """
    minari = _minari()
    source = minari.load_dataset(dataset) if isinstance(dataset, str) else dataset
    embodiment = embodiment or f"minari:{source.id}"
    spec = _action_spec(source.action_space, action_names)
    writer = DatasetWriter(
        out, image_format, shard_max_rows, name=Path(out).name, source={"kind": "minari", "detail": source.id}
    )
    writer.add_embodiment(
        embodiment,
        {
            "domain": "game",
            "description": f"imported from Minari {source.id}",
            "simulator": "unknown",
            "camera": "default",
            "action": action_document(spec),
        },
    )
    for episode in source.iterate_episodes():
        steps = len(episode.rewards)
        builder = EpisodeBuilder(embodiment, task or source.id, spec, image_format, seed=None, attempt=int(episode.id))
        observations = _split_observations(source.observation_space, episode.observations, steps)
        infos = episode.infos or {}
        success = np.asarray(infos.get("success", infos.get("is_success", np.zeros(steps + 1, bool))), bool)
        for t in range(steps):
            observation = observations[t]
            observation["instruction"] = observation["instruction"] or instruction
            builder.add_step(
                observation,
                episode.actions[t],
                float(episode.rewards[t]),
                bool(episode.terminations[t]),
                bool(episode.truncations[t]),
                bool(success[t + 1]) if len(success) > t + 1 else False,
            )
        writer.add_episode(builder.episode)
    return writer.close()


def _observation_space(first: Any) -> spaces.Dict:
    entries: dict[str, spaces.Space[Any]] = {}
    if first["image"] is not None:
        entries["image"] = spaces.Box(0, 255, shape=decode_image(first["image"]).shape, dtype=np.uint8)
    if first["proprio"] is not None:
        entries["proprio"] = spaces.Box(-np.inf, np.inf, shape=(len(first["proprio"]),), dtype=np.float32)
    return spaces.Dict(entries)


def export_minari(
    root: str | Path,
    dataset_id: str,
    embodiment: str | None = None,
    data_format: str = "hdf5",
    batch_episodes: int = 64,
) -> Any:
    """Write one embodiment's episodes as a new local Minari dataset ``dataset_id``; return it.

    Observations are a Dict of ``image`` (uint8) and ``proprio`` (when present); instructions and
    success flags go to ``infos``. Only continuous and discrete embodiments can be exported.
    """
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    meta = DatasetMeta.load(root)
    if embodiment is None:
        if len(meta.embodiments) != 1:
            raise ConfigError(f"{root} holds {sorted(meta.embodiments)}; name the embodiment to export")
        embodiment = next(iter(meta.embodiments))
    action = action_from_document(meta.embodiments[embodiment]["action"])
    if isinstance(action, ContinuousActions):
        action_space: spaces.Space[Any] = spaces.Box(
            np.array(action.low, np.float32), np.array(action.high, np.float32)
        )
    elif isinstance(action, DiscreteActions):
        action_space = spaces.Discrete(action.n)
    else:
        raise ConfigError(
            f"{embodiment}: text (UI) actions have no Minari equivalent; export a continuous or discrete one"
        )
    buffers: list[Any] = []
    exported: Any = None
    observation_space: spaces.Dict | None = None
    for number, table in enumerate(iter_episodes(meta, embodiment)):
        rows = table.to_pydict()
        if observation_space is None:
            observation_space = _observation_space({"image": rows["image"][0], "proprio": rows["proprio"][0]})
        observations: dict[str, np.ndarray] = {}
        if "image" in observation_space.spaces:
            images = [decode_image(data) for data in rows["image"]]
            observations["image"] = np.stack([*images, images[-1]])
        if "proprio" in observation_space.spaces:
            proprio = np.asarray(rows["proprio"], np.float32)
            observations["proprio"] = np.concatenate([proprio, proprio[-1:]])
        if isinstance(action, ContinuousActions):
            actions = np.asarray(rows["action"], np.float32)
        else:
            actions = np.asarray(rows["action_index"], np.int64)
        success = np.asarray([False, *rows["success"]], bool)
        buffers.append(
            EpisodeBuffer(
                id=number,
                observations=observations,
                actions=actions,
                rewards=list(np.asarray(rows["reward"], np.float64)),
                terminations=list(rows["terminated"]),
                truncations=list(rows["truncated"]),
                infos={"success": success},
            )
        )
        if len(buffers) == batch_episodes:  # bounded memory: hand over a batch at a time
            exported = _flush(minari, exported, buffers, dataset_id, action_space, observation_space, data_format)
            buffers = []
    if observation_space is None:
        raise ConfigError(f"{root} has no episodes of {embodiment}")
    return _flush(minari, exported, buffers, dataset_id, action_space, observation_space, data_format)


def _flush(
    minari: Any,
    exported: Any,
    buffers: list[Any],
    dataset_id: str,
    action_space: spaces.Space[Any],
    observation_space: spaces.Space[Any],
    data_format: str,
) -> Any:
    """Create the Minari dataset from the first batch, append later ones."""
    if exported is None:
        with warnings.catch_warnings():  # Minari warns about provenance fields an export cannot know
            warnings.simplefilter("ignore", UserWarning)
            return minari.create_dataset_from_buffers(
                dataset_id,
                buffers,
                action_space=action_space,
                observation_space=observation_space,
                algorithm_name="gea expert",
                description="exported from a gea episode dataset",
                data_format=data_format,
            )
    if buffers:
        exported.update_dataset_from_buffer(buffers)
    return exported
