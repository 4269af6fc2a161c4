"""Build what an SFT run trains: the policy for the datasets' embodiments, and its DDP/FSDP wrapping."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gea.agents.policy import GEAPolicy
from gea.errors import ConfigError
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
    (continuous actions through the fitted RVQ at ``config.action_tokenizer`` when given, else uniform bins)."""
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
