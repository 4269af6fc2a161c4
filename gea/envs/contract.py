"""The one observation/action contract every adapter follows, and the wrapper that enforces it."""

from __future__ import annotations

import string
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from gea.envs.spec import ContinuousActions, DiscreteActions, EmbodimentSpec, TextActions
from gea.errors import ConfigError, InvalidActionError

DEFAULT_IMAGE_SIZE = 64
INSTRUCTION_MAX_LENGTH = 1024
INSTRUCTION_CHARSET = frozenset(string.printable)

ImageSize = tuple[int, int]


def as_image_size(size: int | tuple[int, int] | list[int]) -> ImageSize:
    """Normalize an image size given as ``64`` or ``(height, width)`` to ``(height, width)``; anything else (0, a
    negative or fractional number, a wrong shape) raises ``ConfigError`` naming a valid size."""
    pair = [size, size] if isinstance(size, int | np.integer) else list(size) if isinstance(size, tuple | list) else []
    whole = [int(v) for v in pair if isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0]
    if isinstance(size, bool) or len(pair) != 2 or len(whole) != 2:
        raise ConfigError(
            f"image_size must be a positive whole number of pixels or (height, width), e.g. image_size=64; got {size!r}"
        )
    return (whole[0], whole[1])


def observation_space(image_size: ImageSize, proprio_dim: int | None = None) -> spaces.Dict:
    """The contract's observation space: uint8 ``image``, str ``instruction``, optional ``proprio``."""
    entries: dict[str, spaces.Space[Any]] = {
        "image": spaces.Box(0, 255, shape=(*image_size, 3), dtype=np.uint8),
        "instruction": spaces.Text(max_length=INSTRUCTION_MAX_LENGTH, min_length=0, charset=INSTRUCTION_CHARSET),
    }
    if proprio_dim is not None:
        entries["proprio"] = spaces.Box(-np.inf, np.inf, shape=(proprio_dim,), dtype=np.float32)
    return spaces.Dict(entries)


def clean_instruction(text: str) -> str:
    """Make an instruction fit the ``instruction`` space (printable ASCII, bounded length)."""
    cleaned = "".join(ch if ch in INSTRUCTION_CHARSET else " " for ch in text)
    return cleaned[:INSTRUCTION_MAX_LENGTH]


def action_space(spec: EmbodimentSpec) -> spaces.Space[Any]:
    """The Gymnasium action space that matches an ``EmbodimentSpec``."""
    action = spec.action
    if isinstance(action, ContinuousActions):
        return spaces.Box(np.array(action.low, np.float32), np.array(action.high, np.float32), dtype=np.float32)
    if isinstance(action, DiscreteActions):
        return spaces.Discrete(action.n)
    return spaces.Text(max_length=action.max_length, min_length=0, charset=INSTRUCTION_CHARSET)


class ContractWrapper(gym.Wrapper[dict[str, Any], Any, dict[str, Any], Any]):
    """Validates actions against the spec with clear errors, guarantees ``info["success"]`` and ends
    episodes by truncation after ``max_episode_steps`` (one wrapper layer instead of two keeps it cheap).

    Discrete environments also accept an action's name (``"turn left"``) in place of its index.
    """

    def __init__(self, env: gym.Env[Any, Any], spec: EmbodimentSpec, max_episode_steps: int | None = None) -> None:
        super().__init__(env)
        self.embodiment = spec
        self.max_episode_steps = max_episode_steps or spec.max_episode_steps
        self.elapsed_steps = 0
        if isinstance(spec.action, DiscreteActions):
            self._index_of = {name: i for i, name in enumerate(spec.action.names)}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Reset the simulator; ``info["success"]`` is present and False."""
        self.elapsed_steps = 0
        obs, info = self.env.reset(seed=seed, options=options)
        info["success"] = bool(info.get("success", False))
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Check the action, step the simulator, coerce ``info["success"]`` to bool, apply the time limit."""
        obs, reward, terminated, truncated, info = self.env.step(self.check_action(action))
        info["success"] = bool(info.get("success", False))
        self.elapsed_steps += 1
        return obs, reward, terminated, truncated or self.elapsed_steps >= self.max_episode_steps, info

    def check_action(self, action: Any) -> Any:
        """Return the action in the simulator's native form, or raise ``InvalidActionError``."""
        spec = self.embodiment.action
        if isinstance(spec, DiscreteActions):
            return self._check_discrete(action, spec)
        if isinstance(spec, ContinuousActions):
            return self._check_continuous(action, spec)
        return self._check_text(action, spec)

    def _check_discrete(self, action: Any, spec: DiscreteActions) -> int:
        if isinstance(action, (int, np.integer)) and not isinstance(action, bool) and 0 <= action < spec.n:
            return int(action)  # fast path: the common case costs one check per step
        if isinstance(action, str):
            if action not in self._index_of:
                raise InvalidActionError(
                    f"{self.embodiment.id}: unknown action name {action!r}; valid names: {list(spec.names)}"
                )
            return self._index_of[action]
        array = np.asarray(action)
        if array.shape != () or not np.issubdtype(array.dtype, np.integer):
            raise InvalidActionError(
                f"{self.embodiment.id}: expected one integer action in [0, {spec.n}) or an action name "
                f"such as {spec.names[0]!r}; got {action!r} (shape {array.shape}, dtype {array.dtype})"
            )
        index = int(array)
        if not 0 <= index < spec.n:
            raise InvalidActionError(
                f"{self.embodiment.id}: action {index} is out of range [0, {spec.n}); actions: "
                + ", ".join(f"{i}={name!r}" for i, name in enumerate(spec.names))
            )
        return index

    def _check_continuous(self, action: Any, spec: ContinuousActions) -> np.ndarray:
        try:
            array = np.asarray(action, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise InvalidActionError(
                f"{self.embodiment.id}: expected a float array of shape ({spec.dim},); got {action!r}"
            ) from error
        if array.shape != (spec.dim,):
            raise InvalidActionError(
                f"{self.embodiment.id}: expected an action of shape ({spec.dim},); got shape {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise InvalidActionError(f"{self.embodiment.id}: action contains NaN or inf: {array}")
        return np.clip(array, np.asarray(spec.low, np.float32), np.asarray(spec.high, np.float32))

    def _check_text(self, action: Any, spec: TextActions) -> str:
        if not isinstance(action, str):
            raise InvalidActionError(
                f"{self.embodiment.id}: expected a text action in the grammar {list(spec.grammar)}; "
                f"got {type(action).__name__} {action!r}"
            )
        return action


class ImageObservationEnv(gym.Env[dict[str, Any], Any]):
    """Base class for adapters: holds the spec, the image size and the contract's spaces."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        proprio_dim: int | None = None,
        render_mode: str | None = "rgb_array",
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be 'rgb_array' or None, got {render_mode!r}")
        self.embodiment = embodiment
        self.image_size = as_image_size(image_size)
        self.render_mode = render_mode
        self.observation_space = observation_space(self.image_size, proprio_dim)
        self.action_space = action_space(embodiment)
        self._last_image = np.zeros((*self.image_size, 3), np.uint8)

    def render(self) -> np.ndarray:  # type: ignore[override]
        """The latest observation image."""
        return self._last_image
