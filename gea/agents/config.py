"""The one policy schema: ``PolicyConfig`` (the GEA policy: model, context, critic, efficiency options), and the
``policy=small|mllm`` choice of the training commands: ``SmallPolicyConfig`` (a from-scratch actor-critic) or
``MLLMPolicyConfig`` (``PolicyConfig`` plus the checkpoint to start from)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from gea.errors import ConfigError
from gea.schema import option


@dataclass
class LoraConfig:
    """LoRA through PEFT on the language model (GEA's PPO stage: rank 128, alpha 32, dropout 0.1)."""

    enabled: bool = option(False, "train LoRA adapters instead of every weight")
    rank: int = option(128, "rank of the adapters", minimum=1)
    alpha: int = option(32, "scaling numerator (updates are scaled by alpha / rank)", minimum=1)
    dropout: float = option(0.1, "dropout on the adapters' input", minimum=0)
    target_modules: list[str] = option(
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], help="the linear layers that get adapters"
    )
    language_model_only: bool = option(True, "adapt the language model only (not the vision tower)")


@dataclass
class PolicyConfig:
    """Everything that defines a GEA policy besides its weights; saved as JSON with every checkpoint."""

    model: str = option("tiny", "the MLLM: tiny (offline LLaVA-OneVision, random init), a local folder or a hub id")
    trust_remote_code: bool = option(False, "run model code shipped with the model (only if you trust its source)")
    vision: str = option(
        "auto",
        "vision tower: auto (pretrained EfficientNet-Lite0 from the `vision` extra for the tiny model, the "
        "checkpoint's own for real models), siglip (the tiny model's random-init SigLIP) or efficientnet_lite0",
    )
    vision_resolution: int = option(
        128, "EfficientNet-Lite0 input size in pixels (images are resized to it; 128 px gives a 4x4 map)", minimum=32
    )
    context: int = option(3, "observations in the prompt (the last c, interleaved with their actions)", minimum=1)
    visual_tokens: int = option(16, "visual tokens per observation", minimum=1)
    value_width: int = option(256, "hidden width of the value head MLP", minimum=1)
    value_layers: int = option(4, "layers of the value head MLP", minimum=1)
    popart_tasks: int = option(64, "PopArt value normalizers (one per task)", minimum=1)
    popart_beta: float = option(3e-4, "PopArt statistics step size", minimum=0)
    temperature: float = option(1.0, "sampling temperature of actions (> 0; greedy acting takes the argmax)")
    code_offset: int | None = option(None, "first token id of the learned action codes (null: after the text vocab)")
    reserved_size: int = option(512, "token ids reserved for learned action codes", minimum=1)
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass to save memory")
    bf16: bool = option(False, "bf16 autocast (GPU)")
    freeze_vision: bool | None = option(
        None, "freeze the vision tower (null: frozen for a pretrained tower, trained otherwise)"
    )
    shared_prefix: bool = option(
        True,
        "run each distinct prompt header once per batch and share its keys/values (SFT, PPO re-scoring; off: every "
        "row runs its full prompt, same result; needed with gradient checkpointing)",
    )
    feature_cache_mb: int = option(
        512, "cache of a frozen tower's features per image (keyed by its bytes), in MB", minimum=0
    )
    lora: LoraConfig = option(factory=LoraConfig, help="LoRA through PEFT on the language model")
    seed: int = option(0, "seed of the freshly initialised weights")

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
    """The GEA policy, loaded from ``path`` (a folder written by ``save_pretrained``, e.g. an SFT
    run's ``policy/``) or, when ``path`` is empty, built from ``model`` (``tiny`` = the offline tiny LLaVA-OneVision).

    With ``path``, the checkpoint's own settings hold except ``lora``, ``trust_remote_code`` and any other field
    set to a value other than its default.
    """

    path: str = option("", "a policy folder to start from (save_pretrained format, e.g. runs/sft/policy)")

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
    """A from-scratch actor-critic mirroring SB3's defaults (``encoder=mlp`` on ``proprio``, or
    ``encoder=cnn``, the Nature CNN, on ``image``), for one action space; ``path`` continues a run's ``policy/``."""

    path: str = option("", "a run's policy/ folder to continue from (empty: a fresh net)")
    encoder: str = option("mlp", "mlp (on proprio) or cnn (the Nature CNN, on image)", choices=("mlp", "cnn"))
    observation: str = option("proprio", "the observation key the net reads (proprio or image)")
    hidden: int = option(64, "hidden width", minimum=1)
    popart: bool = option(False, "PopArt-normalized value head")
