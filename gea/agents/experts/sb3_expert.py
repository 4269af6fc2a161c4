"""Stable-Baselines3 image policies as experts and agents, loaded without unpickling; conversion to GEA's format.

``sb3:<zip>`` agents (``gea eval agents=[sb3:/path/model.zip]``) and ``register_sb3_expert(env_id, zip)`` act with
any SB3 image-policy zip. ``convert_sb3_zip`` turns an SB3 ``CnnPolicy`` zip (Nature CNN, the default
``net_arch``) into the compact expert format of ``gea.agents.experts.net_expert`` (safetensors + JSON), which
computes the same actions with no SB3 at run time; ``gea expert convert`` runs it.

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
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert
from gea.agents.experts.net_expert import ExpertModelError, FrameStack, save_net_expert

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


_NATURE_CNN_KEYS = {
    "features_extractor.cnn.0": "actor_body.0.0",
    "features_extractor.cnn.2": "actor_body.0.2",
    "features_extractor.cnn.4": "actor_body.0.4",
    "features_extractor.linear.0": "actor_body.1",
    "action_net": "action_head",
    "value_net": "value_head",
}
"""SB3 ``CnnPolicy`` layer -> ``SmallActorCriticNet`` (encoder ``cnn``) layer; the two compute the same function."""


def sb3_to_small_net(path: str | Path) -> Any:
    """The ``SmallActorCriticNet`` equal to the SB3 ``CnnPolicy`` (Nature CNN, no extra MLP) in the zip at ``path``."""
    import torch

    from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig

    path = Path(path)
    data, state = _read_zip(path)
    observation_space, action_space = _spaces(path, data)
    policy_kwargs = _policy_kwargs(path, data.get("policy_kwargs") or {})
    extractor = policy_kwargs.get("features_extractor_kwargs", {})
    if (
        "ActorCriticCnnPolicy" not in _policy_class(path, data).__name__
        or set(policy_kwargs) - {"features_extractor_kwargs"}
        or set(extractor) - {"features_dim"}
    ):
        raise ExpertModelError(
            f"{path}: only SB3 CnnPolicy zips whose policy_kwargs set at most features_dim convert, not {policy_kwargs}"
        )
    channels, height, width = observation_space.shape
    features = state["features_extractor.linear.0.weight"].shape[0]
    config = SmallNetConfig("cnn", (height, width, channels), int(action_space.n), True, cnn_features=features)
    net = SmallActorCriticNet(config)
    converted = {
        name.replace(source, target, 1): value
        for name, value in state.items()
        for source, target in _NATURE_CNN_KEYS.items()
        if name.startswith(source + ".")
    }
    try:
        net.load_state_dict(converted)
    except RuntimeError as error:
        raise ExpertModelError(f"{path}: its weights do not fit a Nature-CNN actor-critic: {error}") from error
    with torch.no_grad():
        return net.eval()


def convert_sb3_zip(
    path: str | Path,
    env_id: str,
    folder: Path,
    act: str = "greedy",
    record: Mapping[str, Any] | None = None,
    dtype: str = "float16",
) -> Path:
    """Write the SB3 ``CnnPolicy`` zip at ``path`` as the compact expert of ``env_id`` in ``folder``."""
    net = sb3_to_small_net(path)
    frames = net.config.input_shape[-1] // 3
    return save_net_expert(folder, env_id, net, frames, act, {**dict(record or {}), "converted_from": "sb3"}, dtype)
