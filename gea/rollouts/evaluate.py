"""Evaluate agents on a suite: same seeds for every agent, one row per (task, agent)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

import gea.envs
from gea.agents.baselines import RandomAgent
from gea.rollouts.episodes import EpisodeAgent, EpisodeResult, run_episode
from gea.rollouts.experts import has_expert, make_expert
from gea.rollouts.suites import SuiteConfig, SuiteTask


@dataclass
class EvalConfig:
    """Schema of ``gea eval``."""

    suite: SuiteConfig = field(default_factory=SuiteConfig)
    agents: list[str] = field(default_factory=lambda: ["random", "expert"])
    seed: int = 0
    image_size: int = 64
    end_on_success: bool = True
    out_dir: str = "outputs/eval"


@dataclass(frozen=True)
class TaskScore:
    """Aggregate of one agent's episodes on one task."""

    env_id: str
    domain: str
    agent: str
    episodes: int
    success_rate: float
    mean_return: float
    mean_length: float


def agent_factory(name: str, env_id: str, seed: int) -> EpisodeAgent | None:
    """Build a named agent for ``env_id``; ``None`` when it does not apply (no expert for the task)."""
    if name == "random":
        return RandomAgent(seed)
    if name == "expert":
        return make_expert(env_id) if has_expert(env_id) else None
    raise ValueError(f"unknown agent {name!r}; built-in agents: random, expert")


def evaluate_task(
    task: SuiteTask, agent_name: str, config: EvalConfig, progress: Callable[[], None] = lambda: None
) -> TaskScore | None:
    """Run ``task.episodes`` episodes of one agent with seeds ``config.seed + i``."""
    agent = agent_factory(agent_name, task.env, config.seed)
    if agent is None:
        return None
    env = gea.envs.make(task.env, max_episode_steps=task.max_steps, image_size=config.image_size, **task.env_kwargs)
    results: list[EpisodeResult] = []
    try:
        for index in range(task.episodes):
            results.append(run_episode(env, agent, config.seed + index, task.env, config.end_on_success))
            progress()
    finally:
        env.close()
    count = len(results)
    return TaskScore(
        env_id=task.env,
        domain=gea.envs.spec(task.env).domain,
        agent=agent_name,
        episodes=count,
        success_rate=sum(r.success for r in results) / count,
        mean_return=sum(r.episode_return for r in results) / count,
        mean_length=sum(r.length for r in results) / count,
    )


def evaluate(config: EvalConfig) -> list[TaskScore]:
    """Evaluate every agent on every available task of the suite; skipped tasks are reported on stderr."""
    tasks = [task for task in config.suite.tasks if gea.envs.is_available(task.env)]
    for task in config.suite.tasks:
        if task not in tasks:
            tqdm.write(f"skipping {task.env}: missing {', '.join(gea.envs.missing_modules(task.env))}")
    total = sum(task.episodes for task in tasks) * len(config.agents)
    scores: list[TaskScore] = []
    with tqdm(total=total, desc="eval", unit="episode") as bar:
        for task in tasks:
            for agent_name in config.agents:
                bar.set_postfix_str(f"{task.env} / {agent_name}")
                score = evaluate_task(task, agent_name, config, lambda: bar.update(1))
                if score is None:
                    bar.update(task.episodes)
                else:
                    scores.append(score)
    return scores


def write_results(scores: list[TaskScore], config: EvalConfig, out_dir: Path) -> Path:
    """Write ``results.json`` atomically and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    payload: dict[str, Any] = {
        "schema_version": 1,
        "suite": config.suite.name,
        "seed": config.seed,
        "scores": [asdict(score) for score in scores],
    }
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    temporary.replace(path)
    return path
