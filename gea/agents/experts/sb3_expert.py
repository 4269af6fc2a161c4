"""RL experts: Stable-Baselines3 policies that act on a contract env's ``image``, loaded without unpickling.

The package ships trained experts for ``procgen:coinrun`` and ``atari:RoadRunner`` (``gea/data/experts``).
Trained experts live in one folder per env id under the experts folder: ``$GEA_EXPERTS_DIR`` when set,
else ``~/.cache/gea/experts``; ``gea expert train ENV_ID`` writes ``<folder>/<env-slug>/model.zip`` and
``expert.json`` there. Every such folder is registered as the expert of its env id when the expert registry
loads; ``register_sb3_expert(env_id, zip_path)`` registers any other SB3 zip.

Loading is safe by construction: SB3's own ``load`` unpickles parts of the zip (the policy class, the spaces,
schedules), which can run arbitrary code. ``load_sb3_policy`` unpickles nothing: it reads the zip's JSON, accepts
only the known SB3 policy classes (by name), rebuilds the image ``Box`` and ``Discrete`` spaces from their plain
JSON fields and loads ``policy.pth`` with ``torch.load(weights_only=True)``. Zips whose ``policy_kwargs`` hold
Python objects (e.g. a custom activation class) are refused with an error naming the file.

Preprocessing matches training (``FrameStack``): each image is resized to the policy's size and the last
``k`` images are stacked along channels, oldest first, with zeros before an episode's first frame.
"""

from __future__ import annotations

import functools
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert
from gea.envs.images import resize
from gea.errors import GEAError

EXPERTS_DIR_ENV = "GEA_EXPERTS_DIR"
MODEL_FILE = "model.zip"
RECORD_FILE = "expert.json"

# (module, class) of the policies the safe loader rebuilds; the class name is read from the pickled class's
# ``__init__`` repr that SB3 stores beside it as plain text.
SAFE_POLICY_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("stable_baselines3.common.policies", "ActorCriticCnnPolicy"),
        ("stable_baselines3.common.policies", "ActorCriticPolicy"),
        ("stable_baselines3.dqn.policies", "CnnPolicy"),
        ("stable_baselines3.dqn.policies", "DQNPolicy"),
    }
)
"""SB3 policy classes (PPO/A2C actor-critic, DQN) that ``load_sb3_policy`` accepts."""

SAFE_ACTIVATIONS = frozenset({"ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU"})
"""``torch.nn`` activation classes accepted as ``policy_kwargs["activation_fn"]`` (matched by name)."""


class ExpertModelError(GEAError, ValueError):
    """A saved expert model that is missing, corrupt or of a kind the safe loader does not rebuild."""


def experts_dir() -> Path:
    """The folder that holds trained experts: ``$GEA_EXPERTS_DIR``, else ``~/.cache/gea/experts``."""
    configured = os.environ.get(EXPERTS_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "gea" / "experts"


def env_slug(env_id: str) -> str:
    """A folder name for an env id: ``procgen:bigfish`` -> ``procgen-bigfish``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", env_id).strip("-")


def expert_folder(env_id: str, root: Path | None = None) -> Path:
    """Where the trained expert of ``env_id`` lives under ``root`` (default: ``experts_dir()``)."""
    return (experts_dir() if root is None else root) / env_slug(env_id)


class FrameStack:
    """The policy input: the last ``frames`` images (resized to ``size``) stacked along channels, oldest first.

    The first image of an episode (``reset``) is preceded by zeros, as SB3's ``VecFrameStack`` does.
    """

    def __init__(self, frames: int, size: tuple[int, int]) -> None:
        if frames < 1:
            raise ValueError(f"frames must be >= 1, got {frames}")
        self.frames = frames
        self.size = size
        self._stack = np.zeros((*size, 3 * frames), np.uint8)

    def reset(self, image: np.ndarray) -> np.ndarray:
        """Start an episode at ``image``; returns the stacked observation."""
        self._stack[:] = 0
        return self.push(image)

    def push(self, image: np.ndarray) -> np.ndarray:
        """Add the next image; returns the stacked observation (a copy)."""
        frame = resize(np.asarray(image), self.size)
        self._stack = np.roll(self._stack, -3, axis=-1)
        self._stack[..., -3:] = frame
        return self._stack.copy()


def _read_zip(path: Path) -> tuple[dict[str, Any], Any]:
    """The JSON ``data`` of an SB3 zip and its policy state dict (tensors only)."""
    import torch

    if not path.is_file():
        raise ExpertModelError(f"SB3 model file {path} does not exist; train one with `gea expert train ENV_ID`")
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data").decode())
            with archive.open("policy.pth") as handle:
                state = torch.load(handle, map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, RuntimeError, EOFError, OSError) as error:
        raise ExpertModelError(
            f"{path} is not a readable Stable-Baselines3 model zip (needs `data` and `policy.pth`): {error}"
        ) from error
    if not isinstance(data, dict):
        raise ExpertModelError(f"{path}: its `data` entry is not a JSON object")
    return data, state


def _pickled_fields(entry: Any) -> dict[str, Any]:
    """The plain-text fields SB3 writes beside a cloudpickled value (never the pickle itself)."""
    if not isinstance(entry, dict) or ":serialized:" not in entry:
        return {}
    return {key: value for key, value in entry.items() if key != ":serialized:"}


def _policy_class(path: Path, data: dict[str, Any]) -> type[Any]:
    import importlib

    fields = _pickled_fields(data.get("policy_class"))
    match = re.match(r"<function (\w+)\.__init__", str(fields.get("__init__", "")))
    key = (str(fields.get("__module__", "")), match.group(1) if match else "")
    if key not in SAFE_POLICY_CLASSES:
        allowed = ", ".join(name for _, name in SAFE_POLICY_CLASSES)
        raise ExpertModelError(f"{path}: policy class {key[1] or '?'} from {key[0] or '?'} is not one of {allowed}")
    return getattr(importlib.import_module(key[0]), key[1])  # type: ignore[no-any-return]


def _json_list(value: Any) -> list[int]:
    return [int(item) for item in (json.loads(value) if isinstance(value, str) else value)]


def _spaces(path: Path, data: dict[str, Any]) -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    observation = _pickled_fields(data.get("observation_space"))
    action = _pickled_fields(data.get("action_space"))
    if "Box" not in str(observation.get(":type:")) or observation.get("dtype") != "uint8":
        raise ExpertModelError(f"{path}: the policy must take uint8 images; its observation space is {observation}")
    if "Discrete" not in str(action.get(":type:")):
        raise ExpertModelError(f"{path}: only discrete-action policies are supported, not {action.get(':type:')}")
    try:
        shape = tuple(_json_list(observation["_shape"]))
        discrete = gym.spaces.Discrete(int(action["n"]), start=int(action.get("start", 0)))
    except (KeyError, ValueError, TypeError) as error:
        raise ExpertModelError(f"{path}: unreadable observation or action space: {error!r}") from error
    if len(shape) != 3:
        raise ExpertModelError(f"{path}: the policy must take HxWxC or CxHxW images, not shape {shape}")
    return gym.spaces.Box(0, 255, shape, np.uint8), discrete


def _policy_kwargs(path: Path, entry: Any) -> dict[str, Any]:
    """The policy's constructor kwargs, never unpickled.

    Plain JSON is used as is. A pickled dict (SB3 pickles it when it holds classes) is rebuilt from the plain
    fields stored beside the pickle when every object in it is an optimizer setting (unused for inference) or a
    ``torch.nn`` activation in ``SAFE_ACTIVATIONS``.
    """
    import torch

    if not isinstance(entry, dict):
        raise ExpertModelError(f"{path}: policy_kwargs is not a JSON object")
    if ":serialized:" not in entry:
        return entry
    kwargs = {key: value for key, value in _pickled_fields(entry).items() if key != ":type:"}
    kwargs.pop("optimizer_class", None)
    kwargs.pop("optimizer_kwargs", None)
    activation = re.fullmatch(r"<class 'torch\.nn\.modules\.activation\.(\w+)'>", str(kwargs.get("activation_fn", "")))
    if activation and activation.group(1) in SAFE_ACTIVATIONS:
        kwargs["activation_fn"] = getattr(torch.nn, activation.group(1))
    objects = {key: value for key, value in kwargs.items() if isinstance(value, str) and "<" in value}
    if objects:
        raise ExpertModelError(
            f"{path}: its policy_kwargs hold Python objects the safe loader does not rebuild: {objects}"
        )
    return kwargs


def load_sb3_policy(path: str | Path) -> Any:
    """Rebuild the SB3 policy saved in the zip at ``path`` for inference, unpickling nothing (see module doc)."""
    path = Path(path)
    data, state = _read_zip(path)
    policy_class = _policy_class(path, data)
    observation_space, action_space = _spaces(path, data)
    policy_kwargs = _policy_kwargs(path, data.get("policy_kwargs") or {})
    extra = {"use_sde": bool(data.get("use_sde", False))} if "ActorCritic" in policy_class.__name__ else {}
    try:
        policy = policy_class(observation_space, action_space, lambda _: 0.0, **extra, **policy_kwargs)
    except (TypeError, ValueError, AttributeError) as error:
        name = policy_class.__name__
        raise ExpertModelError(f"{path}: cannot build {name} from its policy_kwargs: {error}") from error
    try:
        policy.load_state_dict(state)
    except RuntimeError as error:
        raise ExpertModelError(f"{path}: policy.pth does not fit a {policy_class.__name__}: {error}") from error
    policy.set_training_mode(False)
    return policy


@functools.lru_cache(maxsize=16)
def _cached_policy(path: str, modified: float) -> Any:
    del modified  # part of the cache key: a retrained zip is reloaded
    return load_sb3_policy(path)


def policy_for(path: str | Path) -> Any:
    """``load_sb3_policy`` cached per file (and modification time), so many experts share one policy."""
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise ExpertModelError(f"SB3 model file {resolved} does not exist; train one with `gea expert train ENV_ID`")
    return _cached_policy(str(resolved), resolved.stat().st_mtime)


class SB3Expert:
    """Expert driven by an SB3 image policy: frame-stacks the contract ``image`` and predicts an action index.

    ``deterministic`` takes the most likely action (the default) instead of sampling one.
    """

    def __init__(self, env_id: str, policy: Any, deterministic: bool = True) -> None:
        shape = policy.observation_space.shape
        channels_first = shape[0] < shape[-1]
        channels = shape[0] if channels_first else shape[-1]
        if channels % 3:
            raise ExpertModelError(f"{env_id}: the policy takes {channels} channels, not a stack of RGB images")
        self.env_id = env_id
        self.policy = policy
        self.deterministic = deterministic
        self.stack = FrameStack(channels // 3, tuple(shape[1:] if channels_first else shape[:2]))  # type: ignore[arg-type]
        self._fresh = True

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Clear the frame stack for the episode that ``env`` has just started."""
        self._fresh = True

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """The policy's action index for the current image (stacked with the previous ones)."""
        stacked = self.stack.reset(observation["image"]) if self._fresh else self.stack.push(observation["image"])
        self._fresh = False
        action, _ = self.policy.predict(stacked, deterministic=self.deterministic)
        return int(np.asarray(action).reshape(-1)[0])


def load_sb3_expert(env_id: str, zip_path: str | Path, deterministic: bool = True) -> SB3Expert:
    """An ``SB3Expert`` for ``env_id`` from any SB3 image-policy zip (loaded safely, cached per file)."""
    return SB3Expert(env_id, policy_for(zip_path), deterministic=deterministic)


def register_sb3_expert(env_id: str, zip_path: str | Path, deterministic: bool = True) -> None:
    """Make the SB3 zip at ``zip_path`` the expert of ``env_id`` (validated now: a bad file fails here)."""
    path = Path(zip_path).resolve()
    policy_for(path)

    @register_expert(env_id)
    def factory(requested: str) -> SB3Expert:
        return load_sb3_expert(requested, path, deterministic=deterministic)


def register_trained_experts(root: Path | None = None) -> list[str]:
    """Register every ``<root>/<slug>/model.zip`` with an ``expert.json`` (default root: ``experts_dir()``).

    Models are loaded on first use, not here. Returns the env ids registered.
    """
    root = experts_dir() if root is None else root
    registered = []
    for record_path in sorted(root.glob(f"*/{RECORD_FILE}")) if root.is_dir() else []:
        model_path = record_path.parent / MODEL_FILE
        try:
            env_id = str(json.loads(record_path.read_text())["env_id"])
        except (ValueError, KeyError, TypeError):
            continue  # a half-written or foreign file: not an expert folder
        if model_path.is_file():
            register_expert(env_id)(functools.partial(_lazy_expert, path=model_path))
            registered.append(env_id)
    return registered


def _lazy_expert(env_id: str, path: Path) -> SB3Expert:
    return load_sb3_expert(env_id, path)


PACKAGED_EXPERTS_DIR = Path(__file__).resolve().parents[2] / "data" / "experts"
"""Experts trained with ``gea expert train`` that ship with the package (see ``benchmarks/results/experts.md``)."""

register_trained_experts(PACKAGED_EXPERTS_DIR)
register_trained_experts()  # the user's own experts win over the packaged ones
