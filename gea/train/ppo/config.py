"""Structured configuration of ``gea ppo`` (the Hydra schema of ``gea/configs/ppo.yaml``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from gea.agents.config import MLLMPolicyConfig, SmallPolicyConfig
from gea.errors import ConfigError
from gea.schema import check_values, option

ALGOS = ("ppo", "success_sft", "iql")


@dataclass
class SFTTermConfig:
    """Joint SFT loss on an episode dataset, added to the PPO loss with weight ``weight`` (GEA: 0.1)."""

    dataset: str = option("", "an episode dataset folder (empty: no SFT term)")
    weight: float = option(0.1, "weight of the SFT loss (GEA: 0.1; 0: off)", minimum=0)
    batch_size: int = option(32, "dataset windows per minibatch", minimum=1)


@dataclass
class SuccessSFTConfig:
    """Ablation ``algo=success_sft``: keep the policy's own successful episodes and fine-tune on them."""

    epochs: int = option(2, "passes over the kept steps per rollout", minimum=1)
    minibatches: int = option(4, "minibatches per pass", minimum=1)


@dataclass
class IQLConfig:
    """Ablation ``algo=iql``: implicit Q-learning on the policy's own rollouts (Kostrikov et al. 2022)."""

    expectile: float = option(0.7, "expectile of the value regression, in (0, 1)", minimum=0)
    temperature: float = option(3.0, "inverse temperature of the advantage weights exp(t (Q - V))", minimum=0)
    max_weight: float = option(100.0, "cap on the advantage weights", minimum=0)
    target_update: float = option(0.005, "Polyak step of the target Q networks", minimum=0)
    updates_per_rollout: int = option(64, "IQL updates after each rollout", minimum=1)
    batch_size: int = option(256, "transitions per update", minimum=1)
    hidden: int = option(256, "hidden width of the Q and V networks", minimum=1)


@dataclass
class PPOConfig:
    """Schema of ``gea ppo``: envs per rank, policy, PPO hyperparameters, checkpoints and logging."""

    choices: ClassVar[dict[str, dict[str, type]]] = {"policy": {"small": SmallPolicyConfig, "mllm": MLLMPolicyConfig}}

    algo: str = option("ppo", "ppo, or an ablation on the policy's own rollouts", choices=ALGOS)
    # SmallPolicyConfig | MLLMPolicyConfig, picked by policy=small|mllm (OmegaConf types no unions of sections)
    policy: Any = option(factory=SmallPolicyConfig, help="the policy to train")
    envs: list[str] = option(factory=lambda: ["cartpole"], help="env ids every rank steps (repeated to num_envs)")
    rank_envs: dict[str, list[str]] = option(
        factory=dict, help="other envs for some ranks, e.g. +rank_envs.1=[procgen:starpilot]"
    )
    image_size: int | None = option(
        None,
        "observation images are image_size x image_size pixels (null: what a loaded GEA policy was trained with, "
        "else 64)",
        minimum=1,
    )
    env_kwargs: dict[str, Any] = option(factory=dict, help="options for every env, e.g. +env_kwargs.view=agent")
    imports: list[str] = option(factory=list, help="modules that register envs (imported in every worker too)")
    num_envs: int = option(8, "envs per rank", minimum=1)
    asynchronous: bool = option(False, "step the envs in worker processes")
    step_timeout: float | None = option(None, "seconds before a hung env worker is restarted (null: never)")
    total_steps: int = option(100_000, "env steps over all ranks", minimum=1)
    rollout_steps: int = option(128, "steps per env per rollout", minimum=1)
    sync_frac: float = option(
        1.0, "DD-PPO: end every rank's rollout once this fraction of ranks finished theirs (1: off; habitat 0.6)"
    )
    min_rollout_fraction: float = option(0.25, "a rank whose rollout is ended early still collects this fraction")
    epochs: int = option(4, "passes over each rollout", minimum=1)
    minibatches: int = option(4, "minibatches per pass (must divide num_envs x rollout_steps)", minimum=1)
    lr: float = option(3e-4, "Adam learning rate", minimum=0)
    anneal_lr: bool = option(False, "anneal the learning rate linearly to 0")
    gamma: float = option(0.99, "discount factor", minimum=0)
    gae_lambda: float = option(0.95, "GAE lambda", minimum=0)
    clip: float = option(0.2, "PPO clip range of the probability ratio", minimum=0)
    clip_value: float | None = option(None, "clip range of the value update (null: unclipped)", minimum=0)
    normalize_advantages: bool = option(True, "normalize advantages per minibatch")
    entropy_coef: float = option(0.0, "weight of the entropy bonus (entropy normalized per env)", minimum=0)
    value_coef: float = option(0.5, "weight of the value loss", minimum=0)
    value_warmup_updates: int = option(
        0, "first updates that train only the critic (a fresh critic's advantages are noise to the policy)", minimum=0
    )
    max_grad_norm: float = option(0.5, "gradient norm clip", minimum=0)
    adam_eps: float = option(1e-5, "Adam epsilon", minimum=0)
    log_kl_start: bool = option(True, "log the KL to the start policy every update")
    sft: SFTTermConfig = option(factory=SFTTermConfig, help="joint SFT loss on an episode dataset")
    success_sft: SuccessSFTConfig = option(factory=SuccessSFTConfig, help="the algo=success_sft ablation")
    iql: IQLConfig = option(factory=IQLConfig, help="the algo=iql ablation")
    seed: int = option(0, "base seed (each rank's envs and sampling derive from it)")
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    threads: int = option(0, "torch threads (0: torch's default)", minimum=0)
    out_dir: str = option("outputs/ppo", "where config, checkpoints, TensorBoard logs and policy/ are written")
    checkpoint_every: int = option(10, "updates between checkpoints (0: none)", minimum=0)
    keep_checkpoints: int = option(2, "newest checkpoints kept (0: all)", minimum=0)
    resume: bool = option(False, "continue from the newest checkpoint in out_dir")
    tensorboard: bool = option(True, "write TensorBoard logs")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        check_values(self)  # every option's minimum and choices (algo, counts, rates, ...)
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
