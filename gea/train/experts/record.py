"""Score a trained expert against random play on held-out seeds, and the numbers that go into ``expert.json``.

Returns are full episodes (``end_on_success=False``) of ``gea.envs.make(env_id)`` reset to seeds the training
envs never use. Intervals are 95% percentile-bootstrap intervals of the mean (10,000 resamples, seeded), and of
the difference of means for expert minus random. Normalized scores: Procgen min-max with GEA's easy-mode
ranges, Atari human-normalized (``gea.rollouts.normalization``).
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

import gea.envs
from gea.agents.baselines import RandomAgent
from gea.agents.experts.net_expert import NetExpert
from gea.rollouts.episodes import EpisodeAgent, run_episode
from gea.rollouts.normalization import normalized_score
from gea.train.experts.config import ExpertTrainConfig

RESAMPLES = 10_000


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def round_weights(net: torch.nn.Module, dtype: str) -> torch.nn.Module:
    """Round ``net``'s floating-point weights to ``dtype`` and back, in place: the net as it will be loaded."""
    target = getattr(torch, dtype)
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.to(target).to(tensor.dtype))
    return net


def bootstrap_interval(values: Sequence[float], other: Sequence[float] | None = None, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of ``mean(values)``, or of ``mean(values) - mean(other)``."""
    rng = np.random.default_rng(seed)
    a = np.asarray(values, dtype=np.float64)
    means = a[rng.integers(len(a), size=(RESAMPLES, len(a)))].mean(1)
    if other is not None:
        b = np.asarray(other, dtype=np.float64)
        means = means - b[rng.integers(len(b), size=(RESAMPLES, len(b)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def summarize(env_id: str, returns: Sequence[float], successes: Sequence[bool]) -> dict[str, Any]:
    """Mean, spread, interval, success rate and normalized score of a list of episode returns."""
    mean = float(np.mean(returns))
    normalized = normalized_score(env_id, mean)
    return {
        "mean": round(mean, 4),
        "std": round(float(np.std(returns)), 4),
        "ci95": bootstrap_interval(returns),
        "success_rate": round(float(np.mean(successes)), 4),
        "normalized": None if normalized is None else round(normalized, 4),
        "returns": [float(value) for value in returns],
    }


def play(config: ExpertTrainConfig, agent: EpisodeAgent, first_seed: int, episodes: int, label: str) -> dict[str, Any]:
    """Returns and successes of ``agent`` on seeds ``first_seed .. first_seed + episodes - 1``."""
    env = gea.envs.make(
        config.env_id,
        max_episode_steps=config.eval_max_steps or None,
        image_size=config.image_size,
        **config.env_kwargs,
    )
    returns, successes = [], []
    try:
        for episode in tqdm(range(episodes), desc=f"eval {label}", disable=not config.progress, dynamic_ncols=True):
            result = run_episode(env, agent, first_seed + episode, config.env_id, end_on_success=False)
            returns.append(result.episode_return)
            successes.append(result.success)
    finally:
        env.close()
    return summarize(config.env_id, returns, successes)


def choose_act(config: ExpertTrainConfig, net: torch.nn.Module) -> tuple[str, dict[str, Any]]:
    """The acting mode: ``config.act``, or with ``auto`` the better of greedy and sampled on the selection seeds."""
    if config.act != "auto":
        return config.act, {}
    scores = {
        mode: play(
            config,
            NetExpert(config.env_id, net, config.frame_stack, mode),
            config.select_seed,
            config.select_episodes,
            f"select {mode}",
        )
        for mode in ("greedy", "sample")
    }
    best = "sample" if scores["sample"]["mean"] > scores["greedy"]["mean"] else "greedy"
    trimmed = {mode: {key: score[key] for key in ("mean", "std", "success_rate")} for mode, score in scores.items()}
    return best, {"seeds": [config.select_seed, config.select_episodes], **trimmed}


def evaluate_expert(config: ExpertTrainConfig, net: torch.nn.Module) -> dict[str, Any]:
    """Pick the acting mode, then score the expert and random play on the held-out evaluation seeds."""
    act, selection = choose_act(config, net)
    expert = play(
        config, NetExpert(config.env_id, net, config.frame_stack, act), config.eval_seed, config.eval_episodes, "expert"
    )
    random = play(config, RandomAgent(config.seed), config.eval_seed, config.eval_episodes, "random")
    return {
        "act": act,
        "selection": selection,
        "seeds": [config.eval_seed, config.eval_episodes],
        "max_steps": config.eval_max_steps or None,
        "expert": expert,
        "random": random,
        "difference": {
            "mean": round(expert["mean"] - random["mean"], 4),
            "ci95": bootstrap_interval(expert["returns"], random["returns"]),
        },
    }


def machine() -> dict[str, Any]:
    """Where and when: date, host facts and the load average (1, 5, 15 min) now."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
