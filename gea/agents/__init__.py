"""Policies: the GEA multimodal-LLM policy with its value head, and baselines behind the same interface.

``GEAPolicy.build(PolicyConfig(), env_ids)`` makes the tiny offline default (or loads ``config.model`` by local
path / hub id); ``act`` acts in a batch of envs of any embodiments, ``evaluate`` serves PPO, and
``save_pretrained``/``from_pretrained`` write and read safetensors checkpoints.

Names are imported lazily, so ``gea.agents.baselines`` does not pull in ``transformers``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "ActOutput": "policy",
    "ActionCodec": "actions",
    "BatchPolicy": "interface",
    "EpisodeAdapter": "interface",
    "EvaluateOutput": "policy",
    "ExpertPolicy": "baselines",
    "GEAPolicy": "policy",
    "LoraConfig": "config",
    "PolicyConfig": "config",
    "PolicyOutput": "interface",
    "PopArt": "value",
    "PromptRecord": "prompt",
    "RandomAgent": "baselines",
    "RandomPolicy": "baselines",
    "SB3Policy": "baselines",
    "ValueHead": "value",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gea.agents' has no attribute {name!r}")
    return getattr(importlib.import_module(f"gea.agents.{_EXPORTS[name]}"), name)
