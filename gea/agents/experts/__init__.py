"""Expert registry: scripted, bot and RL experts that act in a contract env using privileged state.

An expert is created for one env id, lives in the same process as its env, and reads whatever it
needs (simulator state, DOM, grid) from ``env.unwrapped``. Register one with ``@register_expert``; the registry
fills itself on first use with the built-in experts and the modules of installed ``gea.plugins`` entry points.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym

from gea.errors import UnknownEnvError
from gea.plugins import load_entry_points


class Expert(Protocol):
    """A policy with privileged access to its environment."""

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Prepare for a new episode; called right after ``env.reset``."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> Any:
        """The native action to take now."""


ExpertFactory = Callable[[str], Expert]

_EXPERTS: dict[str, ExpertFactory] = {}


def register_expert(pattern: str) -> Callable[[ExpertFactory], ExpertFactory]:
    """Decorator: ``factory(env_id) -> Expert`` serves every env id matching the glob ``pattern``."""

    def decorator(factory: ExpertFactory) -> ExpertFactory:
        _EXPERTS[pattern] = factory
        return factory

    return decorator


def _load_builtin_experts() -> None:
    # Imported lazily: each module registers its experts on import; then the installed plugins.
    from gea.agents.experts import builtin  # noqa: F401

    load_entry_points()


def has_expert(env_id: str) -> bool:
    """Whether some registered expert serves ``env_id``."""
    _load_builtin_experts()
    return any(fnmatch.fnmatchcase(env_id, pattern) for pattern in _EXPERTS)


def registered_experts() -> dict[str, str]:
    """Every registered env-id pattern with the module of the factory that serves it, in registration order."""
    _load_builtin_experts()
    return {pattern: str(getattr(getattr(f, "func", f), "__module__", "")) for pattern, f in _EXPERTS.items()}


def missing_expert_reason(env_id: str) -> str:
    """Why ``env_id`` has no expert and how to get one (an RL expert for discrete actions, else a registration)."""
    from gea.envs import spec

    family = env_id.split(":", 1)[0]
    same = [pattern for pattern in registered_experts() if pattern.split(":", 1)[0] == family]
    verb = "has" if len(same) == 1 else "have"
    known = f"of the {family} tasks only {', '.join(same)} {verb} one" if same else f"no {family} task has one"
    if spec(env_id).action.kind == "discrete":
        fix = f"train one with `gea expert train {env_id}`"
    else:
        fix = "register one with @gea.agents.experts.register_expert"
    return f"no expert for {env_id} ({known}; see `gea expert list`); {fix}"


def make_expert(env_id: str) -> Expert:
    """Create the expert that serves ``env_id``."""
    _load_builtin_experts()
    for pattern, factory in _EXPERTS.items():
        if fnmatch.fnmatchcase(env_id, pattern):
            return factory(env_id)
    raise UnknownEnvError(missing_expert_reason(env_id))


__all__ = ["Expert", "has_expert", "make_expert", "missing_expert_reason", "register_expert", "registered_experts"]
