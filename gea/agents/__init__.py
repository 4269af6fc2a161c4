"""Policies: the GEA multimodal-LLM policy with its value head, and the random baseline.

``GEAPolicy.build(PolicyConfig(), env_ids)`` makes the tiny offline default (or loads ``config.model`` by local
path / hub id); ``act`` acts in a batch of envs of any embodiments, ``evaluate`` serves PPO, and
``save_pretrained``/``from_pretrained`` write and read safetensors checkpoints.

Names are imported lazily, so ``gea.agents.baselines`` does not pull in ``transformers``.
"""

from __future__ import annotations

from gea.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "ActOutput": "policy",
    "ActionCodec": "actions",
    "BatchPolicy": "interface",
    "EpisodeAdapter": "interface",
    "EvaluateOutput": "policy",
    "GEAPolicy": "policy",
    "LoraConfig": "config",
    "PolicyConfig": "config",
    "PolicyOutput": "interface",
    "PopArt": "value",
    "PromptRecord": "prompt",
    "RandomAgent": "baselines",
    "ValueHead": "value",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
