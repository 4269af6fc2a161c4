"""Structured configuration of ``gea ppo`` (the Hydra schema of ``gea/configs/ppo.yaml``)."""

from __future__ import annotations

import math
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
    sync_frac: float = 1.0  # DD-PPO: end every rank's rollout once this fraction of ranks finished it (1.0: off)
    min_rollout_fraction: float = 0.25  # a rank ended early still collects this fraction of rollout_steps
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
        if not 0.0 < self.sync_frac <= 1.0 or not 0.0 < self.min_rollout_fraction <= 1.0:
            raise ConfigError(
                f"sync_frac and min_rollout_fraction must be in (0, 1], got {self.sync_frac} and "
                f"{self.min_rollout_fraction} (habitat's DD-PPO uses sync_frac=0.6, min_rollout_fraction=0.25)"
            )
        if self.sync_frac < 1.0 and self.algo != "ppo":
            raise ConfigError(
                f"sync_frac < 1 (preempted rollouts) needs algo=ppo; algo={self.algo} uses whole rollouts"
            )
        if self.num_envs * math.ceil(self.min_rollout_fraction * self.rollout_steps) < self.minibatches:
            raise ConfigError(
                f"a preempted rollout of num_envs x ceil(min_rollout_fraction x rollout_steps) transitions must "
                f"fill minibatches={self.minibatches}; raise min_rollout_fraction or lower minibatches"
            )
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
