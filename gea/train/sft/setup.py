"""Build what an SFT run trains: the policy for the datasets' embodiments, and its DDP/FSDP wrapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gea.agents.policy import GEAPolicy
from gea.agents.trained_with import TrainedWith
from gea.errors import ConfigError
from gea.rollouts.dataset.layout import meta_path
from gea.rollouts.dataset.meta import DatasetMeta
from gea.train.distributed import DistributedContext
from gea.train.sft.config import SFTConfig


def dataset_embodiments(datasets: dict[str, float]) -> list[str]:
    """Every env id (embodiment) recorded in the datasets, sorted."""
    return sorted({name for path in datasets for name in DatasetMeta.load(path).embodiments})


def dataset_image_sizes(datasets: dict[str, float]) -> dict[str, tuple[int, int]]:
    """The ``(height, width)`` each env's images were collected at, as the datasets recorded it."""
    sizes: dict[str, tuple[int, int]] = {}
    for path in datasets:
        meta = DatasetMeta.load(path)
        for name in meta.embodiments:
            size = meta.image_size(name)
            if size is not None:
                sizes.setdefault(name, size)
    return sizes


def build_policy(config: SFTConfig, env_ids: list[str]) -> GEAPolicy:
    """The policy to fine-tune: loaded from ``config.init`` or built from ``config.policy`` for ``env_ids``
    (continuous actions through the fitted RVQ at ``config.action_tokenizer`` when given, else uniform bins),
    recording the observation options of the datasets' envs (``policy.trained_with``)."""
    policy = _initial_policy(config, env_ids)
    recorded = dataset_observation_options(config.data.weighted_paths())
    policy.trained_with = policy.trained_with.updated(recorded.envs)
    return policy


def _initial_policy(config: SFTConfig, env_ids: list[str]) -> GEAPolicy:
    if config.init:
        if not Path(config.init).exists():
            raise ConfigError(
                f"init={config.init} does not exist; give a policy folder written by save_pretrained "
                "(e.g. runs/sft/policy), or leave init empty to build policy.model"
            )
        policy = GEAPolicy.from_pretrained(config.init, trust_remote_code=config.policy.trust_remote_code)
        missing = [env_id for env_id in env_ids if env_id not in policy.codec.tokenizer.routes]
        if missing:
            raise ConfigError(
                f"the policy at {config.init} has no action tokenizer for {missing}; start from policy.model instead"
            )
        return policy
    continuous = None
    if config.action_tokenizer:
        from gea.tokenizers.base import load_tokenizer
        from gea.tokenizers.rvq import ResidualVQTokenizer

        loaded = load_tokenizer(Path(config.action_tokenizer))
        if not isinstance(loaded, ResidualVQTokenizer):
            raise ConfigError(
                f"{config.action_tokenizer} holds a {type(loaded).__name__}; give a folder written by gea tokenizer fit"
            )
        continuous = loaded
    return GEAPolicy.build(config.policy, env_ids, continuous=continuous)


def wrap_model(model: nn.Module, strategy: str, context: DistributedContext) -> nn.Module:
    """``model`` itself when running alone; else DDP, or FSDP2 (``fully_shard`` per decoder layer, then the root)."""
    if not context.distributed:
        return model
    if strategy == "ddp":
        device_ids = [context.device.index] if context.device.type == "cuda" else None
        # the vision tower's unused pooling head / final norm get no gradient: let DDP find them
        return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=True)
    from torch.distributed.fsdp import fully_shard

    for layer in model.backbone.language_model.layers:  # type: ignore[union-attr]
        fully_shard(layer)
    fully_shard(model)
    return model


def collection_options(root: str | Path) -> dict[str, dict[str, Any]]:
    """Each env's options as ``gea collect`` made it for the dataset at ``root`` (from ``meta/collect.yaml`` and the
    image size in ``meta/info.json``); empty for an env whose collection settings were not recorded."""
    meta = DatasetMeta.load(root)
    options: dict[str, dict[str, Any]] = {name: {} for name in meta.embodiments}
    settings_file = meta_path(Path(root), "collect.yaml")
    if settings_file.is_file():
        settings = OmegaConf.to_container(OmegaConf.load(settings_file), resolve=True)
        if isinstance(settings, dict):
            shared = {"image_size": settings.get("image_size"), **(settings.get("env_kwargs") or {})}
            per_task = {entry.get("env"): entry for entry in settings.get("task_env_kwargs") or []}
            for name in options:
                own = {key: value for key, value in per_task.get(name, {}).items() if key != "env"}
                options[name] = {**shared, **own}
    for name, document in meta.embodiments.items():
        if document.get("image_size"):
            options[name]["image_size"] = document["image_size"]
    return options


def dataset_observation_options(datasets: dict[str, float]) -> TrainedWith:
    """The observation options (image size, view, ...) of every env the datasets hold, where they agree."""
    return TrainedWith.agreed(collection_options(path) for path in datasets)
