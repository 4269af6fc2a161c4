"""Gymnasium wrapper layer: one observation/action contract for every simulator.

``make(id)`` returns a ``gymnasium.Env`` whose observation is a Dict with ``image`` (uint8 HxWx3),
``instruction`` (str) and optionally ``proprio`` (float32), whose action is the simulator's native
action, and whose ``info["success"]`` is a bool on every step.
"""

from gea.envs.headless import apply_headless_defaults

apply_headless_defaults()

from gea.envs import adapters as _adapters  # noqa: F401  (registers every adapter)
from gea.envs.contract import DEFAULT_IMAGE_SIZE, ContractWrapper, ImageObservationEnv, observation_space
from gea.envs.recording import RecordEpisodes
from gea.envs.registry import (
    EnvEntry,
    is_available,
    list_envs,
    make,
    missing_modules,
    register,
    spec,
)
from gea.envs.spec import ContinuousActions, DiscreteActions, EmbodimentSpec, TextActions
from gea.envs.vector import GeaVectorEnv, MultiTaskVecEnv, make_vec

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "ContinuousActions",
    "ContractWrapper",
    "DiscreteActions",
    "EmbodimentSpec",
    "EnvEntry",
    "GeaVectorEnv",
    "ImageObservationEnv",
    "MultiTaskVecEnv",
    "RecordEpisodes",
    "TextActions",
    "is_available",
    "list_envs",
    "make",
    "make_vec",
    "missing_modules",
    "observation_space",
    "register",
    "spec",
]
