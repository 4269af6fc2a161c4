"""Generic adapter: any Gymnasium environment under the contract (state as proprio, render() as image).

Ids ``gym:<Gymnasium id>`` work without registration; a YAML file in ``gea/configs/env/`` (schema
``GymEnvConfig``) registers one under a name of its own with a domain, instruction and action names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction
from gea.envs.images import resize
from gea.envs.registry import EnvEntry, add_entry, register_prefix
from gea.errors import ConfigError
from gea.spec import ContinuousActions, DiscreteActions, EmbodimentSpec

DEFAULT_MAX_EPISODE_STEPS = 500
"""Time limit of a ``gym:`` id whose Gymnasium registration has none."""


@dataclass
class GymEnvConfig:
    """Schema of a YAML file that registers a Gymnasium environment with the platform."""

    id: str
    gym_id: str
    domain: str = "game"
    description: str = "an agent in a Gymnasium environment"
    instruction: str = ""
    action_names: list[str] | None = None
    action_low: list[float] | None = None
    action_high: list[float] | None = None
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS
    extra: str | None = None
    requires: list[str] = field(default_factory=list)
    gym_kwargs: dict[str, Any] = field(default_factory=dict)
    success_return: float | None = None


class GymnasiumEnv(ImageObservationEnv):
    """Wraps a Gymnasium env: its flattened state becomes ``proprio``, its ``render()`` the ``image``.

    ``render_mode=None`` skips rendering (the image stays black): for state-only policies, where rendering
    would cost far more than the simulation.
    """

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        gym_id: str,
        instruction: str = "",
        gym_kwargs: dict[str, Any] | None = None,
        success_return: float | None = None,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        render_mode: str | None = "rgb_array",
    ) -> None:
        self._env = gym.make(gym_id, render_mode="rgb_array", **(gym_kwargs or {})).unwrapped
        if not isinstance(self._env.observation_space, (spaces.Box, spaces.Discrete, spaces.Dict, spaces.Tuple)):
            raise ConfigError(f"{gym_id}: observation space {self._env.observation_space} cannot be flattened")
        super().__init__(embodiment, image_size, spaces.flatdim(self._env.observation_space), render_mode)
        self.instruction = clean_instruction(instruction)
        self.success_return = success_return
        self._return = 0.0
        _check_action_space(embodiment, self._env.action_space)

    def _observe(self, state: Any) -> dict[str, Any]:
        if self.render_mode is not None:  # render_mode=None: state-only training, the image stays blank
            self._last_image = resize(np.asarray(self._env.render()), self.image_size)
        proprio = flat_state(self._env.observation_space, state)
        return {"image": self._last_image, "instruction": self.instruction, "proprio": proprio}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset the wrapped env with ``seed``."""
        super().reset(seed=seed)
        state, info = self._env.reset(seed=seed, options=options)
        self._return = 0.0
        return self._observe(state), {**info, "success": False}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Step the wrapped env; success comes from ``info`` (``success``/``is_success``)."""
        state, reward, terminated, truncated, info = self._env.step(action)
        self._return += float(reward)
        success = bool(info.get("success", info.get("is_success", False)))
        if self.success_return is not None:
            success = success or self._return >= self.success_return
        return self._observe(state), float(reward), terminated, truncated, {**info, "success": success}

    def close(self) -> None:
        """Close the wrapped env."""
        self._env.close()


def flat_state(space: spaces.Space[Any], state: Any) -> np.ndarray:
    """``spaces.flatten(space, state)`` cast to float32. A Box state (its values in C order, cast to the Box's
    dtype) skips ``spaces.flatten``'s dispatch, which costs more than a CartPole step."""
    if type(space) is spaces.Box:
        return np.asarray(state, dtype=space.dtype).astype(np.float32).reshape(-1)
    return spaces.flatten(space, state).astype(np.float32)


def _check_action_space(embodiment: EmbodimentSpec, actual: spaces.Space[Any]) -> None:
    declared = embodiment.action
    if isinstance(declared, DiscreteActions) and not (isinstance(actual, spaces.Discrete) and actual.n == declared.n):
        raise ConfigError(f"{embodiment.id}: config declares {declared.n} discrete actions, the env has {actual}")
    if isinstance(declared, ContinuousActions) and not (
        isinstance(actual, spaces.Box) and actual.shape == (declared.dim,)
    ):
        raise ConfigError(
            f"{embodiment.id}: config declares a {declared.dim}-d continuous action, the env has {actual}"
        )


def _spec_from_gym(gym_id: str) -> EmbodimentSpec:
    """The spec of ``gym:<gym_id>``, read from the env's action space (builds the env once); the time limit is
    the one Gymnasium registered for the id (500 steps when it registered none)."""
    probe = gym.make(gym_id)
    try:
        action_space = probe.action_space
    finally:
        probe.close()
    if isinstance(action_space, spaces.Discrete):
        action: ContinuousActions | DiscreteActions = DiscreteActions(
            tuple(f"action {i}" for i in range(action_space.n))
        )
    elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        action = ContinuousActions(
            action_space.shape[0],
            tuple(float(v) for v in action_space.low),
            tuple(float(v) for v in action_space.high),
        )
    else:
        raise ConfigError(f"{gym_id}: action space {action_space} is neither Discrete nor a 1-d Box")
    return EmbodimentSpec(
        id=f"gym:{gym_id}",
        domain="game",
        action=action,
        description=f"an agent in the Gymnasium environment {gym_id}",
        simulator=f"Gymnasium {gym_id}",
        observation_keys=("image", "instruction", "proprio"),
        max_episode_steps=gym.spec(gym_id).max_episode_steps or DEFAULT_MAX_EPISODE_STEPS,
    )


def _factory(embodiment: EmbodimentSpec, gym_id: str, config: GymEnvConfig | None) -> Any:
    def build(**kwargs: Any) -> GymnasiumEnv:
        return GymnasiumEnv(
            embodiment,
            gym_id,
            instruction=config.instruction if config else "",
            gym_kwargs=config.gym_kwargs if config else None,
            success_return=config.success_return if config else None,
            **kwargs,
        )

    return build


def resolve_gym_id(gym_id: str) -> EnvEntry:
    """Build the registry entry for ``gym:<gym_id>``; constructs the env once to read its action space."""
    try:
        gym.spec(gym_id)
    except gym.error.Error as error:
        raise ConfigError(f"gym:{gym_id}: not a registered Gymnasium id ({error})") from error
    embodiment = _spec_from_gym(gym_id)
    return EnvEntry(embodiment, _factory(embodiment, gym_id, None))


def load_config(path: Path) -> GymEnvConfig:
    """Read one YAML registration file; an unknown key or wrong type raises ``ConfigError``."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(GymEnvConfig), OmegaConf.load(path))
    except OmegaConfBaseException as error:
        raise ConfigError(f"{path}: {error}") from error
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def register_config(config: GymEnvConfig) -> None:
    """Register a ``GymEnvConfig`` under ``config.id``; its spec comes from the file, no simulator starts."""
    if config.action_names:
        action: ContinuousActions | DiscreteActions = DiscreteActions(tuple(config.action_names))
    elif config.action_low and config.action_high:
        action = ContinuousActions(len(config.action_low), tuple(config.action_low), tuple(config.action_high))
    else:
        raise ConfigError(f"{config.id}: give action_names (discrete) or action_low/action_high (continuous)")
    embodiment = EmbodimentSpec(
        id=config.id,
        domain=config.domain,  # type: ignore[arg-type]
        action=action,
        description=config.description,
        simulator=f"Gymnasium {config.gym_id}",
        observation_keys=("image", "instruction", "proprio"),
        max_episode_steps=config.max_episode_steps,
        extra=config.extra,
    )
    add_entry(EnvEntry(embodiment, _factory(embodiment, config.gym_id, config), tuple(config.requires)))


def register_configs(folder: Path) -> None:
    """Register every ``*.yaml`` file of ``folder`` (see ``GymEnvConfig``)."""
    for path in sorted(folder.glob("*.yaml")):
        register_config(load_config(path))


register_prefix("gym", resolve_gym_id)
