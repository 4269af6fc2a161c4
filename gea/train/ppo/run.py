"""Build and run one rank of ``gea ppo`` from its config: process group, envs, agent, trainer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gea.agents.config import MLLMPolicyConfig, SmallPolicyConfig
from gea.agents.trained_with import resolve_env_options, same_option
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.envs.registry import spec as env_spec
from gea.envs.vector import MultiTaskVecEnv, make_vec
from gea.errors import ConfigError
from gea.plugins import load_plugins
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


def rank_env_kwargs(config: PPOConfig, env_ids: Sequence[str]) -> dict[str, Any]:
    """The env options of this rank: ``image_size`` and ``env_kwargs`` over the observation options a loaded GEA
    policy (``policy.path``) was trained with and all of this rank's envs share (a different choice is warned
    about), over the contract's default image size."""
    requested = {"image_size": config.image_size, **config.env_kwargs}
    if not isinstance(config.policy, MLLMPolicyConfig) or not config.policy.path:
        # Only an unset image size falls back to the default; other None values (render_mode=None) are choices.
        return {**requested, "image_size": requested["image_size"] or DEFAULT_IMAGE_SIZE}
    from gea.agents.policy import saved_trained_with

    record = saved_trained_with(config.policy.path)
    options = [record.options(env_id) for env_id in dict.fromkeys(env_ids)]
    shared = {
        key: value
        for key, value in options[0].items()
        if all(key in other and same_option(key, other[key], value) for other in options)
    }
    names = ",".join(dict.fromkeys(env_ids))
    return {"image_size": DEFAULT_IMAGE_SIZE, **resolve_env_options(shared, requested, names, "gea ppo")}


def observation_space_of(envs: VecEnv) -> object:
    """The single-env observation space of either vector env kind."""
    if hasattr(envs, "single_observation_space"):
        return envs.single_observation_space
    return envs.observation_spaces[0]  # type: ignore[union-attr]


def build_agent(
    config: PPOConfig,
    envs: VecEnv,
    env_ids: list[str],
    context: DistributedContext,
    env_kwargs: dict[str, Any] | None = None,
) -> PPOAgent:
    """The configured policy behind the ``PPOAgent`` interface; a GEA policy records ``env_kwargs`` (the options
    of the envs it is trained in) as its observation options for ``env_ids``."""
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

    agent = MLLMAgent.build(policy, env_ids, context.device)
    trained = {"image_size": DEFAULT_IMAGE_SIZE, **(env_kwargs or {})}  # what the rank's envs were made with
    agent.policy.trained_with = agent.policy.trained_with.updated({env_id: trained for env_id in env_ids})
    return agent


def run_ppo(config: PPOConfig) -> TrainResult:
    """Train one rank (call under ``torchrun`` for several); every rank returns the run's summary."""
    context = init_distributed(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed + 1_000_003 * context.rank)
    env_ids = config.envs_for_rank(context.rank)
    load_plugins(config.imports)
    for env_id in set(env_ids):
        env_spec(env_id)  # an unknown id fails here, before any worker starts
    if config.policy.path and not Path(config.policy.path).exists():
        raise ConfigError(
            f"policy.path={config.policy.path} does not exist; give a policy folder (a gea ppo run's policy/, or for "
            "policy=mllm a gea sft run's policy/), or leave it empty to start from a fresh policy"
        )
    if config.algo == "iql" and not isinstance(config.policy, SmallPolicyConfig):
        raise ConfigError("algo=iql is implemented for policy=small; use algo=ppo or success_sft for policy=mllm")
    env_kwargs = rank_env_kwargs(config, env_ids)
    envs = make_rank_envs(
        env_ids,
        config.seed + 10_007 * context.rank,
        config.asynchronous,
        config.step_timeout,
        env_kwargs,
        config.imports,
    )
    try:
        agent = build_agent(config, envs, env_ids, context, env_kwargs)
        return PPOTrainer(config, context, agent, envs).train()
    finally:
        envs.close()
        shutdown_distributed()
