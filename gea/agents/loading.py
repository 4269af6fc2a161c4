"""Load the policy's backbone: a tiny offline model built from a config, or any checkpoint by path or hub id.

Checkpoints are read through the Auto classes with ``use_safetensors=True`` (pickle-based ``.bin`` weights are
refused) and ``trust_remote_code`` only when the caller configures it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    AutoTokenizer,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    LlamaConfig,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    PreTrainedTokenizerBase,
    Qwen2Config,
    SiglipVisionConfig,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
)

from gea.agents.text_tokenizer import build_text_tokenizer
from gea.agents.vision.towers import (
    RESOLUTION_ATTRIBUTE,
    STRIDE_ATTRIBUTE,
    TOWER_ATTRIBUTE,
    EfficientNetTower,
    TinyLlavaOnevisionEfficientNet,
    model_class_for,
    placeholder_vision_config,
)
from gea.errors import ConfigError

TINY_MODELS: tuple[str, ...] = ("tiny", "tiny-llava-onevision", "tiny-idefics3", "tiny-smolvlm")
TINY_CLASSES: dict[str, type[nn.Module]] = {
    "tiny-idefics3": Idefics3ForConditionalGeneration,
    "tiny-smolvlm": SmolVLMForConditionalGeneration,
}
TINY_HIDDEN = 128
TINY_IMAGE_SIZE = 64
TINY_PATCH_SIZE = 8


def _round_up(value: int, multiple: int = 64) -> int:
    return (value + multiple - 1) // multiple * multiple


def _tiny_vision() -> dict[str, Any]:
    return SiglipVisionConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=TINY_IMAGE_SIZE,
        patch_size=TINY_PATCH_SIZE,
    ).to_dict()


def tiny_config(
    name: str,
    vocab_size: int,
    image_token_id: int,
    vision: str = "siglip",
    vision_resolution: int = 64,
    vision_stride: int = 16,
) -> Any:
    """Config of a tiny model of the real class: a vision tower (tiny SigLIP, or EfficientNet-Lite0 for
    ``vision="efficientnet_lite0"``) + 2-layer language model."""
    text = {
        "vocab_size": vocab_size,
        "hidden_size": TINY_HIDDEN,
        "intermediate_size": 2 * TINY_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
    }
    if name in ("tiny", "tiny-llava-onevision"):
        pretrained = vision == EfficientNetTower.name
        towers = (
            {TOWER_ATTRIBUTE: vision, RESOLUTION_ATTRIBUTE: vision_resolution, STRIDE_ATTRIBUTE: vision_stride}
            if pretrained
            else {}
        )
        return LlavaOnevisionConfig(
            vision_config=placeholder_vision_config(vision_stride) if pretrained else _tiny_vision(),
            text_config=Qwen2Config(**text).to_dict(),
            image_token_index=image_token_id,
            video_token_index=image_token_id,
            vision_feature_layer=-1,
            vision_feature_select_strategy="full",
            tie_word_embeddings=True,
            **towers,
        )
    if name in ("tiny-idefics3", "tiny-smolvlm"):
        config_class = Idefics3Config if name == "tiny-idefics3" else SmolVLMConfig
        return config_class(
            vision_config=_tiny_vision(),
            text_config=LlamaConfig(**text).to_dict(),
            image_token_id=image_token_id,
            scale_factor=2,
            tie_word_embeddings=True,
        )
    raise ConfigError(f"unknown tiny model {name!r}; choose one of {', '.join(TINY_MODELS)}")


def build_tiny_model(
    name: str = "tiny",
    min_vocab_size: int = 0,
    seed: int = 0,
    tokenizer: PreTrainedTokenizerBase | None = None,
    vision: str = "siglip",
    vision_resolution: int = 64,
    vision_stride: int = 16,
) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """A tiny model of the real class and its offline text tokenizer (built if not given); randomly initialised but
    for an EfficientNet-Lite0 tower (``vision="efficientnet_lite0"``), which holds the ImageNet weights."""
    tokenizer = tokenizer or build_text_tokenizer()
    vocab_size = _round_up(max(len(tokenizer), min_vocab_size))
    image_token = tokenizer.convert_tokens_to_ids(tokenizer.image_token)
    config = tiny_config(name, vocab_size, image_token, vision, vision_resolution, vision_stride)
    model_class = model_class_for(config) or TINY_CLASSES.get(name, LlavaOnevisionForConditionalGeneration)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    if isinstance(model, TinyLlavaOnevisionEfficientNet):
        model.model.vision_tower.load_imagenet()
    return model.eval(), tokenizer


def load_pretrained_model(
    name_or_path: str | Path, trust_remote_code: bool = False, dtype: torch.dtype | None = None
) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Model and text tokenizer of a checkpoint (local folder or hub id); safetensors weights only."""
    tokenizer = load_text_tokenizer(name_or_path, trust_remote_code)
    with _clear_errors(str(name_or_path)):
        config = AutoConfig.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
        own_class = model_class_for(config)  # a tiny model with a GEA vision tower: our class, never remote code
        if own_class is not None:
            model = own_class.from_pretrained(str(name_or_path), config=config, use_safetensors=True, dtype=dtype)
        else:
            model = AutoModelForImageTextToText.from_pretrained(
                str(name_or_path), config=config, trust_remote_code=trust_remote_code, use_safetensors=True, dtype=dtype
            )
    return model.eval(), tokenizer


def load_text_tokenizer(name_or_path: str | Path, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The text tokenizer of a checkpoint (local folder or hub id)."""
    with _clear_errors(str(name_or_path)):
        return AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)


@contextlib.contextmanager
def _clear_errors(source: str) -> Iterator[None]:
    """Turn loader errors into ``ConfigError``s that say what to do."""
    try:
        yield
    except ValueError as error:
        if "trust_remote_code" not in str(error):
            raise
        raise ConfigError(
            f"{source!r} ships its own model code, which runs only if you trust its source: pass "
            "trust_remote_code=True (on the command line: `gea eval trust_remote_code=true`, "
            "`gea sft policy.trust_remote_code=true`, `gea ppo policy.trust_remote_code=true`)"
        ) from error
    except OSError as error:
        raise ConfigError(
            f"cannot load model {source!r}: {error}. Give a local folder with config.json + *.safetensors "
            f"(+ tokenizer files), a reachable hub id, or one of the offline tiny models {TINY_MODELS}."
        ) from error


def ensure_vocab(model: nn.Module, size: int) -> None:
    """Grow the model's embedding/output rows to at least ``size`` (for reserved action-token ids)."""
    if model.get_input_embeddings().weight.shape[0] < size:
        model.resize_token_embeddings(_round_up(size), mean_resizing=False)
