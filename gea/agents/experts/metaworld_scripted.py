"""Scripted Meta-World expert: Meta-World's own per-task policies acting on the privileged 39-d state."""

from __future__ import annotations

import re
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert
from gea.envs.adapters.metaworld_tasks import task_name
from gea.errors import UnknownEnvError

# Task names whose policy class is not the CamelCase of the task name.
_CLASS_NAME_EXCEPTIONS = {"peg-insert-side-v3": "SawyerPegInsertionSideV3Policy"}


def policy_class(task: str) -> type[Any]:
    """The ``metaworld.policies`` class that solves ``task`` (e.g. ``push-v3`` -> ``SawyerPushV3Policy``).

    Uses Meta-World's own task -> policy table, falling back to the class naming convention.
    """
    from metaworld import policies

    table: dict[str, type[Any]] = getattr(policies, "ENV_POLICY_MAP", {})
    return table[task] if task in table else policy_class_by_name(task)


def policy_class_by_name(task: str) -> type[Any]:
    """The ``metaworld.policies`` class named after ``task`` by Meta-World's convention."""
    from metaworld import policies

    base = re.sub(r"-v(\d+)$", "", task)
    version = task.removeprefix(base).removeprefix("-")
    camel = "".join(part.capitalize() for part in base.split("-"))
    name = _CLASS_NAME_EXCEPTIONS.get(task, f"Sawyer{camel}{version.upper()}Policy")
    cls = getattr(policies, name, None)
    if cls is None:
        raise UnknownEnvError(
            f"no scripted Meta-World policy for {task!r} (looked for metaworld.policies.{name}); "
            "upgrade metaworld or pick a task from gea.envs.list_envs(contains='metaworld:')"
        )
    return cls  # type: ignore[no-any-return]


class MetaWorldScriptedExpert:
    """Acts with Meta-World's scripted policy for one task, reading ``env.unwrapped.state``."""

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.policy = policy_class(task_name(env_id))()

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Nothing to prepare: the scripted policies are stateless."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> np.ndarray:
        """The policy's 4-d action for the current state, as float32 in [-1, 1]."""
        with warnings.catch_warnings():
            # The policies warn whenever their proportional gains exceed the action bounds; we clip.
            warnings.filterwarnings("ignore", message="Constant\\(s\\) may be too high")
            action = self.policy.get_action(env.unwrapped.state)
        return np.clip(np.asarray(action, np.float32), -1.0, 1.0)


@register_expert("metaworld:*")
def make_metaworld_expert(env_id: str) -> MetaWorldScriptedExpert:
    """The scripted expert of a ``metaworld:<task>`` environment."""
    return MetaWorldScriptedExpert(env_id)
