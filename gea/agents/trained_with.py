"""What a policy saw in training, per env: the options that shape its observations (image size, view, camera, ...).

SFT records them from its datasets' collection settings and ``save_pretrained`` stores them (``gea_policy.json``,
``trained_with``). ``gea eval`` (``gea:``/``gea-sample:``/``gea-greedy:`` agents) and ``gea ppo policy.path=`` make
each env with them unless the user asks otherwise; where the user asks for a different value, a warning says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gea.envs.contract import as_image_size

# Env options that change what the policy sees (not the task): recorded with the policy, applied by default.
OBSERVATION_OPTIONS: tuple[str, ...] = (
    "image_size",
    "view",
    "camera",
    "proprio",
    "use_backgrounds",
    "center_agent",
    "paint_vel_info",
    "goal_size",
)


class TrainingMismatchWarning(UserWarning):
    """An env is made with observation options other than the ones the policy was trained with."""


def observation_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The observation-shaping entries of ``options`` (image sizes as ``[height, width]``), others dropped."""
    chosen = {key: value for key, value in options.items() if key in OBSERVATION_OPTIONS and value is not None}
    if "image_size" in chosen:
        chosen["image_size"] = list(as_image_size(chosen["image_size"]))
    return chosen


def same_option(key: str, first: Any, second: Any) -> bool:
    """Whether two values of option ``key`` are the same (``32`` and ``[32, 32]`` are the same image size)."""
    if key == "image_size":
        return as_image_size(first) == as_image_size(second)
    return bool(first == second)


def as_override(key: str, value: Any) -> str:
    """``value`` as it would be written in an override (``image_size=32`` for a square size)."""
    if key == "image_size":
        height, width = as_image_size(value)
        return str(height) if height == width else f"[{height},{width}]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(key: str, value: Any) -> str:
    """A short human form of an option value (``32 px``, ``agent``)."""
    if key == "image_size":
        height, width = as_image_size(value)
        return f"{height} px" if height == width else f"{height}x{width} px"
    return repr(value)


@dataclass
class TrainedWith:
    """Per env id, the observation options of the data (or rollouts) a policy was trained on."""

    envs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def options(self, env_id: str) -> dict[str, Any]:
        """The recorded options of ``env_id`` (empty when it was not trained on)."""
        return dict(self.envs.get(env_id, {}))

    def updated(self, envs: Mapping[str, Mapping[str, Any]]) -> TrainedWith:
        """A copy where the given envs' options replace the recorded ones (e.g. after fine-tuning on them)."""
        merged = {env_id: dict(options) for env_id, options in self.envs.items()}
        merged.update({env_id: observation_options(options) for env_id, options in envs.items()})
        return TrainedWith(merged)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``gea_policy.json``'s ``trained_with``)."""
        return {"envs": {env_id: dict(options) for env_id, options in sorted(self.envs.items())}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TrainedWith:
        """Rebuild from ``to_dict`` output (``None``, from a checkpoint that predates the record: nothing known)."""
        envs = (data or {}).get("envs", {})
        return cls({env_id: observation_options(options) for env_id, options in envs.items()})

    @classmethod
    def agreed(cls, sources: Iterable[Mapping[str, Mapping[str, Any]]]) -> TrainedWith:
        """The options every source agrees on, per env (sources: ``{env_id: options}`` of each dataset); an option
        two datasets of the same env disagree on is not recorded."""
        envs: dict[str, dict[str, Any]] = {}
        conflicts: dict[str, set[str]] = {}
        for source in sources:
            for env_id, options in source.items():
                known = envs.setdefault(env_id, {})
                for key, value in observation_options(options).items():
                    if key in known and not same_option(key, known[key], value):
                        conflicts.setdefault(env_id, set()).add(key)
                    known.setdefault(key, value)
        for env_id, keys in conflicts.items():
            for key in keys:
                envs[env_id].pop(key, None)
        return cls(envs)


def resolve_env_options(
    trained: Mapping[str, Any], requested: Mapping[str, Any], env_id: str, where: str
) -> dict[str, Any]:
    """The options to make ``env_id`` with: ``requested`` (what the user asked; ``None`` = not asked) over the
    ``trained`` ones. Warns (``TrainingMismatchWarning``) for each trained option the request changes; ``where``
    names the setting to change in the message (e.g. ``gea eval``)."""
    asked = {key: value for key, value in requested.items() if value is not None}
    for key, value in trained.items():
        if key in asked and not same_option(key, value, asked[key]):
            warnings.warn(
                f"{env_id}: the policy was trained with {key}={describe(key, value)} but {where} asks for "
                f"{key}={describe(key, asked[key])}; its success may drop. Leave {key} unset to use the training "
                f"value, or set {key}={as_override(key, value)} explicitly.",
                TrainingMismatchWarning,
                stacklevel=2,
            )
    return {**trained, **asked}
