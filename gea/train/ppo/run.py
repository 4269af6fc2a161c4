"""Build and run one rank of ``gea ppo`` from its config: process group, envs, agent, trainer."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gea.agents.config import SmallPolicyConfig
from gea.envs.registry import spec as env_spec
from gea.envs.vector import MultiTaskVecEnv, make_vec
from gea.errors import ConfigError
from gea.train.distributed import DistributedContext, init_distributed, seed_everything, shutdown_distributed
from gea.train.ppo.agent import PPOAgent, SmallNetAgent
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.trainer import PPOTrainer, TrainResult, VecEnv


def make_rank_envs(
    env_ids: Sequence[str],
    seed: int,
    asynchronous: bool,
    step_timeout: float | None,
    env_kwargs: dict[str, Any],
    imports: Sequence[str] = (),
) -> VecEnv:
    """One vector env for this rank: ``make_vec`` when every id is the same, else a ``MultiTaskVecEnv``.

    ``imports``: modules that register envs outside ``gea`` (imported in every worker).
    """
    options = {"asynchronous": asynchronous, "seed": seed, "step_timeout": step_timeout, "imports": tuple(imports)}
    if len(set(env_ids)) == 1:
        return make_vec(env_ids[0], len(env_ids), **options, **env_kwargs)
    return MultiTaskVecEnv(env_ids, env_kwargs, **options)


def observation_space_of(envs: VecEnv) -> object:
    """The single-env observation space of either vector env kind."""
    if hasattr(envs, "single_observation_space"):
        return envs.single_observation_space
    return envs.observation_spaces[0]  # type: ignore[union-attr]


def build_agent(config: PPOConfig, envs: VecEnv, env_ids: list[str], context: DistributedContext) -> PPOAgent:
    """The configured policy behind the ``PPOAgent`` interface."""
    policy = config.policy
    if isinstance(policy, SmallPolicyConfig):
        if policy.path:
            return SmallNetAgent.load(policy.path, env_ids, context.device)
        return SmallNetAgent.build(
            env_ids,
            observation_space_of(envs),
            policy.encoder,
            policy.observation,
            policy.hidden,
            policy.popart,
            context.device,
        )
    from gea.train.ppo.mllm_agent import MLLMAgent

    return MLLMAgent.build(policy, env_ids, context.device)


def run_ppo(config: PPOConfig) -> TrainResult:
    """Train one rank (call under ``torchrun`` for several); every rank returns the run's summary."""
    context = init_distributed(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed + 1_000_003 * context.rank)
    env_ids = config.envs_for_rank(context.rank)
    for module in config.imports:
        importlib.import_module(module)
    for env_id in set(env_ids):
        env_spec(env_id)  # an unknown id fails here, before any worker starts
    if config.policy.path and not Path(config.policy.path).exists():
        raise ConfigError(
            f"policy.path={config.policy.path} does not exist; give a policy folder (a gea ppo run's policy/, or for "
            "policy=mllm a gea sft run's policy/), or leave it empty to start from a fresh policy"
        )
    if config.algo == "iql" and not isinstance(config.policy, SmallPolicyConfig):
        raise ConfigError("algo=iql is implemented for policy=small; use algo=ppo or success_sft for policy=mllm")
    envs = make_rank_envs(
        env_ids,
        config.seed + 10_007 * context.rank,
        config.asynchronous,
        config.step_timeout,
        {"image_size": config.image_size, **config.env_kwargs},
        config.imports,
    )
    try:
        agent = build_agent(config, envs, env_ids, context)
        return PPOTrainer(config, context, agent, envs).train()
    finally:
        envs.close()
        shutdown_distributed()
