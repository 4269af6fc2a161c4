"""EfficientNet-Lite0 in plain torch, with the ImageNet weights' key layout translated on load.

The network (Tan & Le, EfficientNet; the "Lite" variant for mobile accelerators): a 3x3 stride-2 stem, seven stages
of inverted-residual (MBConv) blocks, a 1x1 head convolution and a linear classifier. Lite removes the
squeeze-and-excitation units, uses ReLU6 everywhere, and keeps the stem (32 channels) and head (1280 channels) fixed.
Batch norms use TensorFlow's epsilon 1e-3; convolutions pad like TensorFlow's ``"same"`` (extra row/column at the
bottom/right), since the weights were trained there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BATCH_NORM_EPS = 1e-3
BATCH_NORM_MOMENTUM = 0.01
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class Stage:
    """A run of ``repeats`` MBConv blocks; only the first one changes width and stride."""

    expand: int
    kernel: int
    stride: int
    channels_in: int
    channels_out: int
    repeats: int


LITE0_STAGES: tuple[Stage, ...] = (
    Stage(expand=1, kernel=3, stride=1, channels_in=32, channels_out=16, repeats=1),
    Stage(expand=6, kernel=3, stride=2, channels_in=16, channels_out=24, repeats=2),
    Stage(expand=6, kernel=5, stride=2, channels_in=24, channels_out=40, repeats=2),
    Stage(expand=6, kernel=3, stride=2, channels_in=40, channels_out=80, repeats=3),
    Stage(expand=6, kernel=5, stride=1, channels_in=80, channels_out=112, repeats=3),
    Stage(expand=6, kernel=5, stride=2, channels_in=112, channels_out=192, repeats=4),
    Stage(expand=6, kernel=3, stride=1, channels_in=192, channels_out=320, repeats=1),
)
FEATURE_STRIDES = (8, 16, 32)
BLOCK_COUNT = sum(stage.repeats for stage in LITE0_STAGES)


def stages_for_stride(stride: int) -> tuple[Stage, ...]:
    """The stages up to the last one whose output has ``stride`` (8: 40 channels, 16: 112, 32: 320)."""
    if stride not in FEATURE_STRIDES:
        raise ValueError(f"EfficientNet-Lite0 feature stride must be one of {FEATURE_STRIDES}, got {stride}")
    total, last = 2, 0  # the stem halves the input
    for index, stage in enumerate(LITE0_STAGES):
        total *= stage.stride
        if total == stride:
            last = index
    return LITE0_STAGES[: last + 1]


def feature_channels(stride: int) -> int:
    """Channels of the feature map at ``stride``."""
    return stages_for_stride(stride)[-1].channels_out


class ConvNormAct(nn.Module):
    """Convolution (no bias, TensorFlow "same" padding) -> batch norm -> optional ReLU6."""

    def __init__(
        self, channels_in: int, channels_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        symmetric = kernel // 2 if stride == 1 else 0  # "same" at stride 1 (odd kernels) pads evenly: let conv do it
        self.conv = nn.Conv2d(channels_in, channels_out, kernel, stride, padding=symmetric, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(channels_out, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()
        self._folded: tuple[tuple[tuple[int, int], ...], torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to a (N, C, H, W) map; without autograd (and with the batch norm in inference mode) as one
        convolution with the batch norm folded into its weight and bias, a 1x1 one as a linear map over channels
        (the same product, without the convolution's layout conversions of channels-last maps)."""
        if self.stride != 1:
            x = F.pad(x, same_padding(x.shape[-2:], self.kernel, self.stride))
        if torch.is_grad_enabled() or self.bn.training:
            return self.act(self.bn(self.conv(x)))
        weight, bias = self._folded_weights()
        conv = self.conv
        if self.kernel == 1 and self.stride == 1 and conv.groups == 1:
            return self.act(F.linear(x.permute(0, 2, 3, 1), weight[:, :, 0, 0], bias).permute(0, 3, 1, 2))
        return self.act(F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups))

    def _folded_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolution weight and bias that include the batch norm's inference affine map; recomputed whenever a
        tensor of either changes (an optimizer step, loading weights, a move to another device or dtype)."""
        bn = self.bn
        tensors = (self.conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        key = tuple((tensor.data_ptr(), tensor._version) for tensor in tensors)  # type: ignore[union-attr]
        if self._folded is None or self._folded[0] != key:
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # type: ignore[operator]
            shift = bn.bias - bn.running_mean * scale  # type: ignore[operator]
            self._folded = (key, self.conv.weight * scale[:, None, None, None], shift)
        return self._folded[1], self._folded[2]


def same_padding(size: torch.Size | tuple[int, int], kernel: int, stride: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding that gives ``ceil(size / stride)`` outputs, the extra one after."""
    pads = []
    for length in (size[1], size[0]):
        total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
        pads += [total // 2, total - total // 2]
    return pads[0], pads[1], pads[2], pads[3]


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expansion (skipped at ratio 1), depthwise conv, 1x1 linear projection,
    plus the input when the shape is unchanged."""

    def __init__(self, channels_in: int, channels_out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        hidden = channels_in * expand
        self.expand = ConvNormAct(channels_in, hidden, 1) if expand != 1 else None
        self.depthwise = ConvNormAct(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvNormAct(hidden, channels_out, 1, act=False)
        self.residual = stride == 1 and channels_in == channels_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to a (N, C, H, W) map."""
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: ``features`` gives the (N, C, H/stride, W/stride) map of the last stage at
    ``feature_stride`` (only the stages up to it are built); with ``classifier=True`` (all stages) ``forward`` gives
    ImageNet logits (head conv, global average pool, linear)."""

    def __init__(self, classifier: bool = False, feature_stride: int = 32) -> None:
        super().__init__()
        if classifier and feature_stride != 32:
            raise ValueError("the classifier needs every stage (feature_stride=32)")
        self.stem = ConvNormAct(3, STEM_CHANNELS, 3, stride=2)
        blocks = []
        for stage in stages_for_stride(feature_stride):
            for index in range(stage.repeats):
                channels_in = stage.channels_in if index == 0 else stage.channels_out
                stride = stage.stride if index == 0 else 1
                blocks.append(MBConv(channels_in, stage.channels_out, stage.expand, stage.kernel, stride))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvNormAct(feature_channels(32), HEAD_CHANNELS, 1) if classifier else None
        self.classifier = nn.Linear(HEAD_CHANNELS, IMAGENET_CLASSES) if classifier else None

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalized pixels -> (N, C, ceil(H/stride), ceil(W/stride)) feature map."""
        return self.blocks(self.stem(pixels))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """ImageNet logits (N, 1000); needs ``classifier=True``."""
        if self.head is None or self.classifier is None:
            raise RuntimeError("this EfficientNetLite0 was built without its classifier; use features()")
        pooled = self.head(self.features(pixels)).mean(dim=(2, 3))
        return self.classifier(pooled)


def checkpoint_key(name: str) -> str:
    """The key of parameter/buffer ``name`` in the published EfficientNet-Lite weights
    (``_conv_stem``/``_bn0``/``_blocks.i._expand_conv``/... layout)."""
    parts = name.split(".")
    if parts[0] == "classifier":
        return ".".join(["_fc", *parts[1:]])
    if parts[0] in ("stem", "head"):
        conv, norm = ("_conv_stem", "_bn0") if parts[0] == "stem" else ("_conv_head", "_bn1")
        return ".".join([conv if parts[1] == "conv" else norm, *parts[2:]])
    if parts[0] == "blocks":
        layer = {"expand": ("_expand_conv", "_bn0"), "depthwise": ("_depthwise_conv", "_bn1"),
                 "project": ("_project_conv", "_bn2")}[parts[2]]  # fmt: skip
        return ".".join(["_blocks", parts[1], layer[0] if parts[3] == "conv" else layer[1], *parts[4:]])
    raise KeyError(f"no checkpoint key for {name!r}")
