"""Structured configuration of ``gea ppo`` (the Hydra schema of ``gea/configs/ppo.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from gea.agents.config import MLLMPolicyConfig, SmallPolicyConfig
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.errors import ConfigError

ALGOS = ("ppo", "success_sft", "iql")


@dataclass
class SFTTermConfig:
    """Joint SFT loss on an episode dataset, added to the PPO loss with weight ``weight`` (GEA: 0.1)."""

    dataset: str = ""
    weight: float = 0.1
    batch_size: int = 32


@dataclass
class SuccessSFTConfig:
    """Ablation ``algo=success_sft``: keep the policy's own successful episodes and fine-tune on them."""

    epochs: int = 2
    minibatches: int = 4


@dataclass
class IQLConfig:
    """Ablation ``algo=iql``: implicit Q-learning on the policy's own rollouts (Kostrikov et al. 2022)."""

    expectile: float = 0.7
    temperature: float = 3.0
    max_weight: float = 100.0
    target_update: float = 0.005
    updates_per_rollout: int = 64
    batch_size: int = 256
    hidden: int = 256


@dataclass
class PPOConfig:
    """Schema of ``gea ppo``: envs per rank, policy, PPO hyperparameters, checkpoints and logging."""

    choices: ClassVar[dict[str, dict[str, type]]] = {"policy": {"small": SmallPolicyConfig, "mllm": MLLMPolicyConfig}}

    algo: str = "ppo"
    policy: Any = field(default_factory=SmallPolicyConfig)  # SmallPolicyConfig | MLLMPolicyConfig (policy=small|mllm)
    envs: list[str] = field(default_factory=lambda: ["cartpole"])
    rank_envs: dict[str, list[str]] = field(default_factory=dict)
    image_size: int = DEFAULT_IMAGE_SIZE
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    imports: list[str] = field(default_factory=list)
    num_envs: int = 8
    asynchronous: bool = False
    step_timeout: float | None = None
    total_steps: int = 100_000
    rollout_steps: int = 128
    epochs: int = 4
    minibatches: int = 4
    lr: float = 3e-4
    anneal_lr: bool = False
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    clip_value: float | None = None
    normalize_advantages: bool = True
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-5
    log_kl_start: bool = True
    sft: SFTTermConfig = field(default_factory=SFTTermConfig)
    success_sft: SuccessSFTConfig = field(default_factory=SuccessSFTConfig)
    iql: IQLConfig = field(default_factory=IQLConfig)
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    out_dir: str = "outputs/ppo"
    checkpoint_every: int = 10
    keep_checkpoints: int = 2
    resume: bool = False
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        if not isinstance(self.policy, SmallPolicyConfig | MLLMPolicyConfig):
            kind = type(self.policy).__name__
            raise ConfigError(f"policy must be a SmallPolicyConfig or MLLMPolicyConfig, got {kind}")
        if (self.num_envs * self.rollout_steps) % self.minibatches:
            raise ConfigError(
                f"num_envs x rollout_steps = {self.num_envs * self.rollout_steps} is not divisible by "
                f"minibatches={self.minibatches}; change one of them"
            )

    def envs_for_rank(self, rank: int) -> list[str]:
        """The env ids rank ``rank`` steps, ``num_envs`` of them (ids are repeated round-robin)."""
        ids = self.rank_envs.get(str(rank), self.envs)
        if not ids:
            raise ConfigError(f"rank {rank} has no environments; set envs=[...] or rank_envs.{rank}=[...]")
        return [ids[index % len(ids)] for index in range(self.num_envs)]

    @property
    def batch_per_rank(self) -> int:
        """Transitions each rank collects per update."""
        return self.num_envs * self.rollout_steps
