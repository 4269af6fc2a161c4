"""Periodic evaluation during SFT: a few greedy episodes of the policy on each configured task."""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import gea.envs
from gea.agents.interface import EpisodeAdapter
from gea.agents.policy import GEAPolicy
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.rollouts.episodes import run_episode
from gea.train.sft.config import EvalDuringTraining


def evaluate_policy(
    policy: GEAPolicy, config: EvalDuringTraining, image_sizes: Mapping[str, tuple[int, int]] | None = None
) -> dict[str, float]:
    """Success rate and mean return of ``policy`` on each of ``config.envs`` (``config.episodes`` seeds each).

    Images have ``config.image_size`` pixels, or when it is None the size ``image_sizes`` gives for the env (the
    training data's), else the contract's default.
    """
    metrics: dict[str, float] = {}
    adapter = EpisodeAdapter(policy, greedy=True)
    policy.invalidate_cache()
    for env_id in config.envs:
        size = config.image_size or (image_sizes or {}).get(env_id, DEFAULT_IMAGE_SIZE)
        env = gea.envs.make(env_id, max_episode_steps=config.max_steps, image_size=size)
        try:
            base = config.seed + zlib.crc32(env_id.encode()) % 100_000
            results = [run_episode(env, adapter, base + episode, env_id) for episode in range(config.episodes)]
        finally:
            env.close()
        metrics[f"success/{env_id}"] = sum(result.success for result in results) / len(results)
        metrics[f"return/{env_id}"] = sum(result.episode_return for result in results) / len(results)
    policy.reset(None)
    return metrics
