"""The environment registry: ``register`` an adapter once, then ``make``/``spec``/``list_envs`` by id.

The registry fills itself the first time it is read: the built-in adapters (``gea.envs.adapters``), then the
modules of installed ``gea.plugins`` entry points. Modules named by ``imports=[...]`` register when imported.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from gea.envs.contract import ContractWrapper
from gea.errors import MissingDependencyError, UnknownEnvError
from gea.plugins import load_entry_points
from gea.spec import EmbodimentSpec

EnvFactory = Callable[..., gym.Env[Any, Any]]


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment: its static spec, a factory, and the modules it needs."""

    spec: EmbodimentSpec
    factory: EnvFactory
    requires: tuple[str, ...] = ()
    default_kwargs: tuple[tuple[str, Any], ...] = ()


_REGISTRY: dict[str, EnvEntry] = {}
_DYNAMIC_PREFIXES: dict[str, Callable[[str], EnvEntry]] = {}
_filled = False
_fill_lock = threading.RLock()


def _fill() -> None:
    """Register the built-in adapters and the installed plugins, once per process, before the first read."""
    global _filled
    if _filled:
        return
    with _fill_lock:  # reentrant: a plugin may read the registry while it is being imported
        importlib.import_module("gea.envs.adapters")
        load_entry_points()
        _filled = True


def register(
    spec: EmbodimentSpec,
    requires: Iterable[str] = (),
    **default_kwargs: Any,
) -> Callable[[EnvFactory], EnvFactory]:
    """Decorator: register ``factory(**kwargs) -> gym.Env`` under ``spec.id``.

    ``requires`` lists importable module names; when one is missing, ``make`` names ``spec.extra``.
    ``default_kwargs`` are passed to the factory unless the caller overrides them.
    """

    def decorator(factory: EnvFactory) -> EnvFactory:
        add_entry(EnvEntry(spec, factory, tuple(requires), tuple(default_kwargs.items())))
        return factory

    return decorator


def add_entry(entry: EnvEntry) -> None:
    """Add an ``EnvEntry``; registering the same id twice is an error."""
    if entry.spec.id in _REGISTRY:
        first, second = _origin(_REGISTRY[entry.spec.id]), _origin(entry)
        raise ValueError(
            f"environment id {entry.spec.id!r} is already registered (by {first}); give the one of {second} another id"
        )
    _REGISTRY[entry.spec.id] = entry


def _origin(entry: EnvEntry) -> str:
    """The module that defines an entry's factory (looking through ``functools.partial``)."""
    factory = getattr(entry.factory, "func", entry.factory)
    return str(getattr(factory, "__module__", "an unknown module"))


def register_prefix(prefix: str, resolver: Callable[[str], EnvEntry]) -> None:
    """Resolve ids of the form ``prefix:NAME`` on demand (used by the generic ``gym:`` adapter)."""
    _DYNAMIC_PREFIXES[prefix] = resolver


def _entry(env_id: str) -> EnvEntry:
    _fill()
    if env_id in _REGISTRY:
        return _REGISTRY[env_id]
    prefix, _, rest = env_id.partition(":")
    if rest and prefix in _DYNAMIC_PREFIXES:
        entry = _DYNAMIC_PREFIXES[prefix](rest)
        _REGISTRY[env_id] = entry
        return entry
    close = difflib.get_close_matches(env_id, list(_REGISTRY), n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownEnvError(
        f"unknown environment id {env_id!r}.{hint} Run `gea envs list` to see all ids, "
        "or use 'gym:<Gymnasium id>' for any registered Gymnasium environment."
    )


def missing_modules(env_id: str) -> list[str]:
    """Modules that ``env_id`` needs but that cannot be imported here."""
    return [name for name in _entry(env_id).requires if importlib.util.find_spec(name) is None]


def is_available(env_id: str) -> bool:
    """Whether every dependency of ``env_id`` is installed."""
    return not missing_modules(env_id)


def spec(env_id: str) -> EmbodimentSpec:
    """The ``EmbodimentSpec`` of ``env_id``; starts no simulator."""
    return _entry(env_id).spec


def list_envs(domain: str | None = None, contains: str | None = None, tag: str | None = None) -> list[str]:
    """Registered ids, optionally only those of one domain, containing a substring, or carrying a tag.

    Tags name task sets, e.g. ``MT10``, ``ML45-train``, ``ML45-test`` for Meta-World.
    """
    _fill()
    return sorted(
        env_id
        for env_id, entry in _REGISTRY.items()
        if (domain is None or entry.spec.domain == domain)
        and (contains is None or contains in env_id)
        and (tag is None or tag in entry.spec.tags)
    )


def make(env_id: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env[Any, Any]:
    """Build ``env_id`` wrapped in the platform contract (``ContractWrapper``, which also applies the time limit).

    Keyword arguments go to the adapter (``image_size``, ``camera``, ...); unknown ones raise ``TypeError``.
    """
    entry = _entry(env_id)
    missing = missing_modules(env_id)
    if missing:
        how = entry.spec.install_hint or f"pip install 'gea[{entry.spec.extra or 'all'}]'"
        raise MissingDependencyError(
            f"{env_id} needs {', '.join(missing)}, which is not installed. Install it with: {how}"
        )
    env = entry.factory(**{**dict(entry.default_kwargs), **kwargs})
    return ContractWrapper(env, entry.spec, max_episode_steps)
