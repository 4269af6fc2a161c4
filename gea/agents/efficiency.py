"""Training-efficiency options applied to the backbone: frozen vision tower, gradient checkpointing, LoRA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from gea.agents.config import LoraConfig, PolicyConfig

LANGUAGE_MODEL_NAMES = ("language_model", "text_model")


def vision_modules(model: nn.Module) -> list[nn.Module]:
    """The vision tower of a supported image-text-to-text model."""
    inner = model.model
    return [module for name in ("vision_tower", "vision_model") if (module := getattr(inner, name, None)) is not None]


def lora_target(config: LoraConfig) -> str | list[str]:
    """PEFT ``target_modules``: a regex over the language model's layers, or plain names for every layer."""
    if not config.language_model_only:
        return list(config.target_modules)
    names = "|".join(config.target_modules)
    scopes = "|".join(LANGUAGE_MODEL_NAMES)
    return rf".*\.({scopes})\..*\.({names})"


def apply_lora(model: nn.Module, config: LoraConfig) -> None:
    """Inject LoRA adapters in place (base weights frozen, adapters trainable)."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import inject_adapter_in_model

    peft_config = PeftLoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=lora_target(config)
    )
    inject_adapter_in_model(peft_config, model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = "lora_" in name


def apply_efficiency(model: nn.Module, config: PolicyConfig, freeze_vision: bool = False) -> None:
    """Apply the configured LoRA, vision freezing and gradient checkpointing to ``model`` in place;
    ``freeze_vision`` is the default used when ``config.freeze_vision`` is None."""
    if config.lora.enabled:
        apply_lora(model, config.lora)
    if config.freeze_vision if config.freeze_vision is not None else freeze_vision:
        for module in vision_modules(model):
            module.requires_grad_(False)
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})


@contextlib.contextmanager
def merged_weights(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """While open: the model's weights with any LoRA adapters merged in, under plain (un-injected) names."""
    from peft.tuners.lora import LoraLayer

    layers = [module for module in model.modules() if isinstance(module, LoraLayer)]
    with torch.no_grad():
        for layer in layers:
            layer.merge()
        try:
            yield {
                name.replace(".base_layer.", "."): tensor
                for name, tensor in model.state_dict().items()
                if "lora_" not in name
            }
        finally:
            for layer in layers:
                layer.unmerge()
