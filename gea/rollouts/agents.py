"""Resolve the agent names used by evaluation and collection (``random``, ``expert``, ...)."""

from __future__ import annotations

from gea.agents.baselines import RandomAgent
from gea.errors import ConfigError
from gea.rollouts.episodes import EpisodeAgent
from gea.rollouts.experts import has_expert, make_expert

BUILTIN_AGENTS = ("random", "expert")


def make_agent(name: str, env_id: str, seed: int) -> EpisodeAgent | None:
    """Build the agent called ``name`` for ``env_id``; ``None`` when it does not apply to that task.

    ``random`` acts uniformly at random; ``expert`` is the registered scripted/bot expert of the task.
    """
    if name == "random":
        return RandomAgent(seed)
    if name == "expert":
        return make_expert(env_id) if has_expert(env_id) else None
    raise ConfigError(f"unknown agent {name!r}; available: {', '.join(BUILTIN_AGENTS)}")
