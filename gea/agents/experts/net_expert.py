"""RL experts stored compactly: a small actor-critic net as ``model.safetensors`` plus ``expert.json``; no pickle.

An expert folder (``<root>/<env-slug>/``) holds:

- ``model.safetensors``: the weights of a ``gea.agents.small_nets.SmallActorCriticNet`` (float16 or float32);
- ``expert.json``: ``env_id``, ``net`` (the ``SmallNetConfig`` fields), ``frame_stack``, ``act`` (``greedy`` or
  ``sample``), and whatever the trainer recorded (returns against random play, steps, wall time, recipe).

``gea expert train`` writes such folders; SB3 zips convert to the same format
(``gea.agents.experts.sb3_expert.convert_sb3_zip``). Loading reads JSON and safetensors only. The package ships
experts in ``gea/data/experts``; folders in the experts folder (``$GEA_EXPERTS_DIR``, else
``~/.cache/gea/experts``) are registered after them, so a user's own expert of an env wins.

Acting: each contract ``image`` is resized to the net's input size and the last ``frame_stack`` images are stacked
along channels, oldest first, with zeros before an episode's first frame (``FrameStack``). ``act=sample`` draws
from the policy's distribution with a generator seeded from the episode's first image, so an episode replays
exactly from the same env seed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert
from gea.envs.images import resize
from gea.errors import GEAError
from gea.files import atomic_write, atomic_write_json

EXPERTS_DIR_ENV = "GEA_EXPERTS_DIR"
WEIGHTS_FILE = "model.safetensors"
RECORD_FILE = "expert.json"
FORMAT = "gea-small-net/1"
ACT_MODES = ("greedy", "sample")

PACKAGED_EXPERTS_DIR = Path(__file__).resolve().parents[2] / "data" / "experts"
"""Experts that ship with the package (``benchmarks/results/experts.md`` records how each was trained)."""


class ExpertModelError(GEAError, ValueError):
    """A saved expert model that is missing, corrupt or of a kind the safe loader does not rebuild."""


def experts_dir() -> Path:
    """The folder that holds the user's trained experts: ``$GEA_EXPERTS_DIR``, else ``~/.cache/gea/experts``."""
    configured = os.environ.get(EXPERTS_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "gea" / "experts"


def env_slug(env_id: str) -> str:
    """A folder name for an env id: ``procgen:bigfish`` -> ``procgen-bigfish``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", env_id).strip("-")


def expert_folder(env_id: str, root: Path | None = None) -> Path:
    """Where the expert of ``env_id`` lives under ``root`` (default: ``experts_dir()``)."""
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


def save_net_expert(
    folder: Path,
    env_id: str,
    net: Any,
    frame_stack: int,
    act: str,
    record: Mapping[str, Any] | None = None,
    dtype: str = "float16",
) -> Path:
    """Write ``net`` (a ``SmallActorCriticNet``) as the expert of ``env_id`` into ``folder``; returns the folder.

    Weights are stored as ``dtype`` (``float16`` halves the size). The weights file is written first and
    ``expert.json`` last, each atomically, so a folder whose ``expert.json`` exists is complete.
    """
    import torch
    from safetensors.torch import save_file

    if act not in ACT_MODES:
        raise ValueError(f"act must be one of {ACT_MODES}, got {act!r}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be float16 or float32, got {dtype!r}")
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: value.detach()
        .to("cpu", getattr(torch, dtype) if value.is_floating_point() else value.dtype)
        .contiguous()
        .clone()
        for name, value in net.state_dict().items()
    }
    atomic_write(folder / WEIGHTS_FILE, lambda temporary: save_file(tensors, str(temporary)))
    document = {
        **dict(record or {}),
        "format": FORMAT,
        "env_id": env_id,
        "net": asdict(net.config),
        "frame_stack": frame_stack,
        "act": act,
        "dtype": dtype,
    }
    atomic_write_json(folder / RECORD_FILE, document, sort_keys=False)
    return folder


def read_record(folder: Path) -> dict[str, Any]:
    """The ``expert.json`` of an expert folder, checked for the fields loading needs."""
    path = folder / RECORD_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ExpertModelError(f"{folder} holds no {RECORD_FILE}; train one with `gea expert train ENV_ID`") from error
    except (ValueError, OSError) as error:
        raise ExpertModelError(f"{path} is not readable JSON: {error}") from error
    missing = [key for key in ("format", "env_id", "net", "frame_stack", "act") if key not in record]
    if not isinstance(record, dict) or missing:
        raise ExpertModelError(f"{path} is not a GEA expert record (missing {missing})")
    if record["format"] != FORMAT:
        raise ExpertModelError(f"{path}: format {record['format']!r} is not {FORMAT!r}")
    return record


def load_net(folder: Path) -> tuple[Any, dict[str, Any]]:
    """The expert net of ``folder`` (float32, eval mode) and its record; reads JSON and safetensors only."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig

    record = read_record(folder)
    try:
        fields = dict(record["net"])
        allowed = fields.get("allowed_actions")
        fields["input_shape"] = tuple(fields["input_shape"])
        fields["allowed_actions"] = None if allowed is None else tuple(allowed)
        net_config = SmallNetConfig(**fields)
        net = SmallActorCriticNet(net_config)
    except (TypeError, ValueError, GEAError) as error:
        raise ExpertModelError(f"{folder / RECORD_FILE}: its `net` does not describe a small net: {error}") from error
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
        net.load_state_dict({name: _float32(value) for name, value in state.items()})
    except (OSError, RuntimeError, ValueError, SafetensorError) as error:
        raise ExpertModelError(f"{folder / WEIGHTS_FILE} does not hold the weights of that net: {error}") from error
    return net.eval(), record


def _float32(tensor: Any) -> Any:
    return tensor.float() if tensor.is_floating_point() else tensor


@functools.lru_cache(maxsize=32)
def _cached_net(folder: str, modified: float) -> tuple[Any, dict[str, Any]]:
    del modified  # part of the cache key: a retrained expert is reloaded
    return load_net(Path(folder))


def net_for(folder: str | Path) -> tuple[Any, dict[str, Any]]:
    """``load_net`` cached per folder (and modification time of its weights), so many experts share one net."""
    resolved = Path(folder).resolve()
    weights = resolved / WEIGHTS_FILE
    if not weights.is_file():
        raise ExpertModelError(f"{resolved} holds no {WEIGHTS_FILE}; train one with `gea expert train ENV_ID`")
    return _cached_net(str(resolved), weights.stat().st_mtime)


class NetExpert:
    """An expert driven by a small actor-critic net on the frame-stacked contract ``image``.

    ``act``: ``greedy`` takes the most likely action, ``sample`` draws one (seeded per episode, see module doc).
    """

    def __init__(self, env_id: str, net: Any, frame_stack: int, act: str = "greedy") -> None:
        import torch

        if act not in ACT_MODES:
            raise ValueError(f"act must be one of {ACT_MODES}, got {act!r}")
        height, width, channels = net.config.input_shape
        if channels != 3 * frame_stack:
            raise ExpertModelError(f"{env_id}: the net takes {channels} channels, not {frame_stack} RGB images")
        self.env_id = env_id
        self.net = net
        self.mode = act
        self.stack = FrameStack(frame_stack, (height, width))
        self.generator = torch.Generator()
        self._fresh = True

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Clear the frame stack for the episode that ``env`` has just started."""
        self._fresh = True

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """The net's action for the current image (stacked with the previous ones)."""
        import torch

        image = np.ascontiguousarray(observation["image"])
        if self._fresh:
            self.generator.manual_seed(zlib.crc32(image.tobytes()))
            stacked = self.stack.reset(image)
            self._fresh = False
        else:
            stacked = self.stack.push(image)
        with torch.inference_mode():
            logits, _ = self.net(torch.from_numpy(stacked)[None])
            if self.mode == "greedy":
                return int(logits.argmax(-1))
            return int(torch.multinomial(logits.softmax(-1), 1, generator=self.generator))


def load_net_expert(env_id: str, folder: str | Path, act: str | None = None) -> NetExpert:
    """A ``NetExpert`` for ``env_id`` from an expert folder (its recorded ``act`` mode unless ``act`` is given)."""
    net, record = net_for(folder)
    return NetExpert(env_id, net, int(record["frame_stack"]), act or str(record["act"]))


def expert_records(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, record) of every complete expert folder under ``root`` (unreadable ones are skipped)."""
    found = []
    for record_path in sorted(root.glob(f"*/{RECORD_FILE}")) if root.is_dir() else []:
        try:
            record = read_record(record_path.parent)
        except ExpertModelError:
            continue  # a foreign or older file: not an expert folder of this format
        if (record_path.parent / WEIGHTS_FILE).is_file():
            found.append((record_path.parent, record))
    return found


def register_net_expert(env_id: str, folder: str | Path) -> None:
    """Make the expert folder ``folder`` the expert of ``env_id`` (its net is loaded on first use)."""
    register_expert(env_id)(functools.partial(_lazy_expert, folder=Path(folder)))


def register_trained_experts(root: Path | None = None) -> list[str]:
    """Register every complete expert folder under ``root`` (default: ``experts_dir()``); returns their env ids."""
    registered = []
    for folder, record in expert_records(experts_dir() if root is None else root):
        register_net_expert(str(record["env_id"]), folder)
        registered.append(str(record["env_id"]))
    return registered


def available_experts() -> list[tuple[str, Path, dict[str, Any]]]:
    """(source, folder, record) of the shipped experts (``shipped``) and the user's (``trained``), in that order."""
    return [
        *(("shipped", folder, record) for folder, record in expert_records(PACKAGED_EXPERTS_DIR)),
        *(("trained", folder, record) for folder, record in expert_records(experts_dir())),
    ]


def _lazy_expert(env_id: str, folder: Path) -> NetExpert:
    return load_net_expert(env_id, folder)


register_trained_experts(PACKAGED_EXPERTS_DIR)
register_trained_experts()  # the user's own experts win over the packaged ones
