"""Gymnasium wrapper layer: one observation/action contract for every simulator.

``make(id)`` returns a ``gymnasium.Env`` whose observation is a Dict with ``image`` (uint8 HxWx3),
``instruction`` (str) and optionally ``proprio`` (float32), whose action is the simulator's native
action, and whose ``info["success"]`` is a bool on every step.

Importing this package has no side effect: names are imported on first use, and the registry fills itself
(built-in adapters, then installed ``gea.plugins``) the first time it is read. The static description of an
embodiment lives in ``gea.spec``.
"""

from __future__ import annotations

from gea.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "DEFAULT_IMAGE_SIZE": "contract",
    "ContinuousActions": "gea.spec",
    "ContractWrapper": "contract",
    "DiscreteActions": "gea.spec",
    "EmbodimentSpec": "gea.spec",
    "EnvEntry": "registry",
    "GeaVectorEnv": "vector",
    "ImageObservationEnv": "contract",
    "MultiTaskVecEnv": "vector",
    "RecordEpisodes": "recording",
    "TextActions": "gea.spec",
    "is_available": "registry",
    "list_envs": "registry",
    "make": "registry",
    "make_vec": "vector",
    "missing_modules": "registry",
    "observation_space": "contract",
    "register": "registry",
    "spec": "registry",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
