"""The one policy schema: ``PolicyConfig`` (the GEA policy: model, context, critic, efficiency options), and the
``policy=small|mllm`` choice of the training commands: ``SmallPolicyConfig`` (a from-scratch actor-critic) or
``MLLMPolicyConfig`` (``PolicyConfig`` plus the checkpoint to start from)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from gea.errors import ConfigError


@dataclass
class LoraConfig:
    """LoRA through PEFT on the language model (GEA's PPO stage: rank 128, alpha 32, dropout 0.1)."""

    enabled: bool = False
    rank: int = 128
    alpha: int = 32
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    language_model_only: bool = True


@dataclass
class PolicyConfig:
    """Everything that defines a GEA policy besides its weights; saved as JSON with every checkpoint."""

    model: str = "tiny"
    trust_remote_code: bool = False
    # auto: pretrained EfficientNet-Lite0 (ImageNet, from the `vision` extra) for the tiny LLaVA-OneVision model, the
    # checkpoint's own tower for real models; siglip: the tiny model's randomly initialised SigLIP tower
    vision: str = "auto"
    vision_resolution: int = 128  # EfficientNet-Lite0 input size (images are resized to it); 128 px -> a 4x4 map
    context: int = 3
    visual_tokens: int = 16
    value_width: int = 256
    value_layers: int = 4
    popart_tasks: int = 64
    popart_beta: float = 3e-4
    temperature: float = 1.0
    code_offset: int | None = None
    reserved_size: int = 512
    gradient_checkpointing: bool = False
    bf16: bool = False
    freeze_vision: bool | None = None  # None: frozen for a pretrained tower (efficientnet_lite0), trained otherwise
    # each distinct prompt header is run once per batch and its keys/values shared by the rows (SFT, PPO re-scoring);
    # off: every row runs its full prompt (same result; needed with gradient checkpointing, which drops KV caches)
    shared_prefix: bool = True
    feature_cache_mb: int = 512  # a frozen tower's features are cached per image (keyed by its bytes) up to this size
    lora: LoraConfig = field(default_factory=LoraConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            self.lora = LoraConfig(**self.lora)
        if self.context < 1:
            raise ConfigError(f"context must be >= 1 observation, got {self.context}")
        if self.vision_resolution < 32:
            raise ConfigError(f"vision_resolution must be >= 32 px, got {self.vision_resolution}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0 (use greedy=True for argmax), got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyConfig:
        """Rebuild from ``to_dict`` output; unknown keys are an error that names the valid ones."""
        names = {item.name for item in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown policy config keys {sorted(unknown)}; valid keys: {sorted(names)}")
        return cls(**data)


@dataclass
class MLLMPolicyConfig(PolicyConfig):
    """``policy=mllm``: the GEA policy, loaded from ``path`` (a folder written by ``save_pretrained``, e.g. an SFT
    run's ``policy/``) or, when ``path`` is empty, built from ``model`` (``tiny`` = the offline tiny LLaVA-OneVision).

    With ``path``, the checkpoint's own settings hold except ``lora``, ``trust_remote_code`` and any other field
    set to a value other than its default.
    """

    path: str = ""

    def checkpoint_overrides(self) -> dict[str, Any]:
        """The fields that override a loaded checkpoint's settings (``GEAPolicy.from_pretrained(**overrides)``)."""
        if self.model != PolicyConfig.model:
            raise ConfigError(
                f"policy.path={self.path} and policy.model={self.model} both name a model; keep one of them"
            )
        defaults, mine = PolicyConfig().to_dict(), self.policy_config().to_dict()
        chosen = {key: getattr(self, key) for key, value in mine.items() if value != defaults[key]}
        chosen.pop("trust_remote_code", None)
        return {**chosen, "lora": self.lora}

    def policy_config(self) -> PolicyConfig:
        """The ``PolicyConfig`` part (what ``GEAPolicy.build`` takes)."""
        return PolicyConfig(**{item.name: getattr(self, item.name) for item in fields(PolicyConfig)})


@dataclass
class SmallPolicyConfig:
    """``policy=small``: a from-scratch actor-critic mirroring SB3's defaults (``encoder=mlp`` on ``proprio``, or
    ``encoder=cnn``, the Nature CNN, on ``image``), for one action space; ``path`` continues a run's ``policy/``."""

    path: str = ""
    encoder: str = "mlp"
    observation: str = "proprio"
    hidden: int = 64
    popart: bool = False
