"""Run one expert episode in this process (a collection worker) and return it as an ``Episode``.

The expert reads privileged state from ``env.unwrapped``, so it runs next to its env. Each episode is
fully determined by its job: the env is reset with ``job.seed`` and action noise draws from the same seed.
"""

from __future__ import annotations

import atexit
import importlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import gea.envs
from gea.agents.experts import Expert, make_expert
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.envs.spec import ActionSpec, ContinuousActions, DiscreteActions
from gea.errors import ConfigError
from gea.rollouts.dataset.episode import Episode, EpisodeBuilder
from gea.rollouts.episodes import run_episode

ENV_CACHE_SIZE = 4


@dataclass(frozen=True)
class EpisodeJob:
    """Everything that determines one collected episode."""

    env_id: str
    task: str
    attempt: int
    seed: int
    expert: str = "auto"
    action_noise: float = 0.0
    stop_on_success: bool = True
    image_size: int = DEFAULT_IMAGE_SIZE
    image_format: str = "png"
    max_episode_steps: int | None = None
    env_kwargs: tuple[tuple[str, Any], ...] = field(default_factory=tuple)


def load_expert(name: str, env_id: str) -> Expert:
    """``auto``: the registered expert for ``env_id``; ``package.module:factory``: ``factory(env_id)``."""
    if name == "auto":
        return make_expert(env_id)
    module_name, _, attribute = name.partition(":")
    if not attribute:
        raise ConfigError(f"expert must be 'auto' or 'package.module:factory', got {name!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory(env_id)  # type: ignore[no-any-return]


def perturb_action(action: Any, spec: ActionSpec, noise: float, rng: np.random.Generator) -> Any:
    """The action to execute: continuous actions get Gaussian noise (std = ``noise`` x half the range,
    clipped to the bounds); discrete ones are replaced by a uniformly random action with probability
    ``noise``; text actions are kept."""
    if noise <= 0:
        return action
    if isinstance(spec, ContinuousActions):
        low, high = np.asarray(spec.low, np.float32), np.asarray(spec.high, np.float32)
        scale = noise * (high - low) / 2
        return np.clip(np.asarray(action, np.float32) + rng.normal(0.0, 1.0, spec.dim) * scale, low, high)
    if isinstance(spec, DiscreteActions) and rng.random() < noise:
        return int(rng.integers(spec.n))
    return action


_CACHE: OrderedDict[tuple[Any, ...], tuple[gym.Env[Any, Any], Expert]] = OrderedDict()


def _env_and_expert(job: EpisodeJob) -> tuple[gym.Env[Any, Any], Expert]:
    """A cached (env, expert) pair for the job's env settings; the least recently used is closed."""
    key = (job.env_id, job.expert, job.image_size, job.max_episode_steps, job.env_kwargs)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    options = {"max_episode_steps": job.max_episode_steps, "image_size": job.image_size, **dict(job.env_kwargs)}
    env = gea.envs.make(job.env_id, **options)  # per-task env_kwargs (e.g. image_size) win
    if not _CACHE:
        # Registered after the simulator's import, so it runs before the simulator's own exit hooks
        # (e.g. MuJoCo's EGL teardown); registering twice is harmless because closing empties the cache.
        atexit.register(close_cached_envs)
    _CACHE[key] = (env, load_expert(job.expert, job.env_id))
    if len(_CACHE) > ENV_CACHE_SIZE:
        _, (old_env, _) = _CACHE.popitem(last=False)
        old_env.close()
    return _CACHE[key]


def close_cached_envs() -> None:
    """Close every cached env (runs at interpreter exit, so simulators shut down cleanly)."""
    while _CACHE:
        _, (env, _) = _CACHE.popitem()
        env.close()


def collect_episode(job: EpisodeJob) -> Episode:
    """Reset with ``job.seed``, let the expert act until the episode ends, and record every step.

    The recorded ``action`` is the expert's; with ``action_noise`` the env executes a perturbed one
    (DART-style), and an expert with ``observe_action`` is told what was executed. With
    ``stop_on_success`` the episode ends at the first successful step, recorded as terminal.
    """
    env, expert = _env_and_expert(job)
    spec = gea.envs.spec(job.env_id)
    rng = np.random.default_rng(job.seed)
    builder = EpisodeBuilder(job.env_id, job.task, spec.action, job.image_format, job.seed, job.attempt)
    run_episode(
        env,
        expert,
        job.seed,
        job.env_id,
        end_on_success=job.stop_on_success,
        perturb=lambda action: perturb_action(action, spec.action, job.action_noise, rng),
        on_step=builder.add_step,
    )
    return builder.episode
