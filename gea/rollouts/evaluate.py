"""Evaluate agents on a suite: same seeds for every agent, one result file per (agent, task).

Each finished (agent, task) pair is written atomically to ``<out_dir>/tasks/``; a rerun with the same
settings reuses those files, so a crashed or killed evaluation resumes where it stopped and ends
with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Iterator
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

import gea.envs
from gea.agents.trained_with import resolve_env_options
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.errors import MissingDependencyError
from gea.files import atomic_write_json
from gea.plugins import load_plugins
from gea.processes import worker_pool
from gea.rollouts.agents import GEAAgent, check_agent, make_agent, unavailable_reason
from gea.rollouts.episodes import EpisodeAgent, EpisodeResult, run_episode
from gea.rollouts.suites import SuiteConfig, SuiteTask
from gea.schema import option
from gea.spec import EmbodimentSpec

RESULTS_SCHEMA_VERSION = 2
STORED_RESULT_FORMAT = 2  # part of each stored result's fingerprint: results of older formats are recomputed


@dataclass
class EvalConfig:
    """Schema of ``gea eval``: agents compared side by side on a suite's tasks, with the same seeds for all."""

    suite: SuiteConfig = option(factory=SuiteConfig, help="the tasks: suite=NAME picks a file, suite.tasks your own")
    agents: list[str] = option(
        factory=lambda: ["random", "expert"],
        help="agents to compare: random, expert, sb3:<model.zip>, gea:<policy dir> (acts as the policy records: "
        "sampled unless trained with policy.decoding=greedy), gea-sample:<policy dir>, gea-greedy:<policy dir>",
    )
    episodes: int | None = option(None, "episodes per task (null: each task's own count)", minimum=1)
    seed: int = option(0, "base seed; every agent plays the same seeds")
    image_size: int | None = option(
        None,
        "observation images are image_size x image_size pixels (null: what each GEA policy was trained with, else "
        "64; a GEA policy's other observation options, e.g. BabyAI view=agent, apply too unless a suite task sets "
        "them, and a different choice is warned about)",
        minimum=1,
    )
    max_steps: int | None = option(None, "caps every task's step limit (null: each task's own)", minimum=1)
    end_on_success: bool = option(True, "end an episode at its first successful step")
    videos_per_task: int = option(1, "mp4 videos of the first episodes of each task and agent", minimum=0)
    num_workers: int = option(1, "tasks evaluated in parallel processes", minimum=1)
    resume: bool = option(True, "reuse the results of tasks already finished with the same settings")
    out_dir: str = option("outputs/eval", "where results, report, plots and videos are written")
    trust_remote_code: bool = option(False, "run model code shipped inside a gea:<dir> checkpoint (if you trust it)")
    imports: list[str] = option(
        factory=list, help="your modules that register envs and experts (workers import them too)"
    )


@dataclass(frozen=True)
class TaskRun:
    """One (agent, task) pair to evaluate, with everything that determines its result."""

    agent: str
    task: SuiteTask
    seed: int
    image_size: int | None
    end_on_success: bool
    videos: int
    trust_remote_code: bool = False

    def fingerprint(self) -> dict[str, Any]:
        """The settings a stored result must match to be reused."""
        return {
            "agent": self.agent,
            "env": self.task.env,
            "episodes": self.task.episodes,
            "max_steps": self.task.max_steps,
            "env_kwargs": dict(self.task.env_kwargs),
            "seed": self.seed,
            "image_size": self.image_size,
            "end_on_success": self.end_on_success,
            "format": STORED_RESULT_FORMAT,
        }


@dataclass
class TaskResult:
    """All episodes of one agent on one task; ``unavailable`` says why the agent could not play it (no episodes)."""

    agent: str
    env_id: str
    domain: str
    split: str
    episodes: list[EpisodeResult]
    unavailable: str | None = None

    @property
    def agent_available(self) -> bool:
        """Whether the agent played the task."""
        return self.unavailable is None

    @property
    def success_rate(self) -> float:
        """Fraction of successful episodes."""
        return sum(e.success for e in self.episodes) / max(1, len(self.episodes))

    @property
    def mean_return(self) -> float:
        """Mean undiscounted episode return."""
        return sum(e.episode_return for e in self.episodes) / max(1, len(self.episodes))


def task_seed(seed: int, env_id: str) -> int:
    """A per-task seed, stable across processes and Python versions."""
    return (seed * 1_000_003 + zlib.crc32(env_id.encode())) % 2**31


def slug(text: str) -> str:
    """A file-name-safe version of an id."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def result_path(out_dir: Path, run: TaskRun) -> Path:
    """Where the result of one (agent, task) pair is stored."""
    return out_dir / "tasks" / slug(run.agent) / f"{slug(run.task.env)}.json"


def run_task(run: TaskRun, out_dir: Path) -> TaskResult:
    """Evaluate one agent on one task; records the first ``run.videos`` episodes as mp4."""
    spec = gea.envs.spec(run.task.env)
    seed = task_seed(run.seed, run.task.env)
    reason = unavailable_reason(run.agent, run.task.env)
    if reason is not None:
        return TaskResult(run.agent, run.task.env, spec.domain, run.task.split, [], unavailable=reason)
    agent = make_agent(run.agent, run.task.env, seed, run.trust_remote_code)
    options = {"max_episode_steps": run.task.max_steps, **env_options(run, agent)}
    env = gea.envs.make(run.task.env, **options)
    if run.videos > 0:
        from gea.envs.recording import RecordEpisodes

        folder = out_dir / "videos" / slug(run.agent)
        env = RecordEpisodes(env, folder, max_episodes=run.videos, name_prefix=slug(run.task.env))
    try:
        episodes = []
        for index in range(run.task.episodes):
            if isinstance(agent, GEAAgent):
                agent.reseed(seed + index)
            episodes.append(run_episode(env, agent, seed + index, run.task.env, run.end_on_success))
    finally:
        env.close()
    return TaskResult(run.agent, run.task.env, spec.domain, run.task.split, [_at_cap(e, spec) for e in episodes])


def _at_cap(episode: EpisodeResult, spec: EmbodimentSpec) -> EpisodeResult:
    """Mark a truncation before the game's own step limit as the evaluation's ``max_steps`` cap."""
    own_limit = spec.max_episode_steps
    if episode.ended == "truncated" and own_limit is not None and episode.length < own_limit:
        return dataclasses.replace(episode, ended="step_cap")
    return episode


def missing_simulator_reason(env_id: str) -> str:
    """Why a task whose simulator is not installed was skipped, with the install command."""
    spec = gea.envs.spec(env_id)
    how = spec.install_hint or f"pip install 'gea[{spec.extra}]'"
    return f"simulator not installed ({', '.join(gea.envs.missing_modules(env_id))} missing): {how}"


def env_options(run: TaskRun, agent: EpisodeAgent) -> dict[str, Any]:
    """The options ``run.task.env`` is made with: the task's own ``env_kwargs`` over the run's ``image_size``, over
    (for a GEA policy) the observation options it was trained with, over the contract's default image size.
    A GEA policy asked to act in observations other than its training ones triggers a warning."""
    requested = {"image_size": run.image_size, **run.task.env_kwargs}
    if isinstance(agent, GEAAgent):
        trained = agent.trained_with.options(run.task.env)
        requested = resolve_env_options(trained, requested, run.task.env, f"gea eval ({run.agent})")
    requested = {key: value for key, value in requested.items() if value is not None}
    return {"image_size": DEFAULT_IMAGE_SIZE, **requested}


def load_result(path: Path, run: TaskRun) -> TaskResult | None:
    """A stored result for ``run`` if one exists with the same settings, else ``None``."""
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if stored.get("fingerprint") != run.fingerprint():
        return None
    result = stored["result"]
    result["episodes"] = [EpisodeResult(**episode) for episode in result["episodes"]]
    return TaskResult(**result)


def store_result(path: Path, run: TaskRun, result: TaskResult) -> None:
    """Write one result atomically."""
    atomic_write_json(path, {"fingerprint": run.fingerprint(), "result": asdict(result)}, indent=1)


def _evaluate_and_store(run: TaskRun, out_dir: Path) -> TaskResult:
    result = run_task(run, out_dir)
    store_result(result_path(out_dir, run), run, result)
    return result


def capped(task: SuiteTask, config: EvalConfig) -> SuiteTask:
    """``task`` with the config's episode count and step cap applied."""
    episodes = task.episodes if config.episodes is None else config.episodes
    max_steps = task.max_steps
    if config.max_steps is not None:
        max_steps = config.max_steps if max_steps is None else min(max_steps, config.max_steps)
    return dataclasses.replace(task, episodes=episodes, max_steps=max_steps)


def plan_runs(config: EvalConfig) -> tuple[list[TaskRun], list[SuiteTask]]:
    """The (agent, task) pairs to run, and the optional tasks skipped because their simulator is missing.

    An unknown env id or agent, a missing checkpoint, or a missing simulator for a task that is not optional is an
    error naming the fix, raised here, before any work.
    """
    load_plugins(config.imports)
    tasks = [capped(task, config) for task in config.suite.tasks]
    for task in tasks:
        if not task.optional and not gea.envs.is_available(task.env):
            missing = ", ".join(gea.envs.missing_modules(task.env))
            raise MissingDependencyError(
                f"suite {config.suite.name!r} needs {task.env}, whose simulator is not installed ({missing}): "
                f"pip install 'gea[{gea.envs.spec(task.env).extra}]', or mark the task optional"
            )
    for agent in config.agents:
        check_agent(agent)
    available = [task for task in tasks if gea.envs.is_available(task.env)]
    skipped = [task for task in tasks if task not in available]
    runs = [
        TaskRun(
            agent,
            task,
            config.seed,
            config.image_size,
            config.end_on_success,
            config.videos_per_task,
            config.trust_remote_code,
        )
        for task in available
        for agent in config.agents
    ]
    return runs, skipped


def evaluate(config: EvalConfig) -> Iterator[tuple[TaskRun, TaskResult, bool]]:
    """Evaluate every (agent, task) pair; yields ``(run, result, reused)`` as each finishes.

    With ``num_workers > 1`` pairs run in parallel worker processes; results do not depend on it.
    """
    out_dir = Path(config.out_dir)
    runs, _ = plan_runs(config)
    pending = []
    for run in runs:
        stored = load_result(result_path(out_dir, run), run) if config.resume else None
        if stored is not None:
            yield run, stored, True
        else:
            pending.append(run)
    if config.num_workers <= 1:
        for run in pending:
            yield run, _evaluate_and_store(run, out_dir), False
        return
    with worker_pool(config.num_workers) as pool:
        futures = {pool.submit(_evaluate_and_store, run, out_dir): run for run in pending}
        for future in as_completed(futures):
            yield futures[future], future.result(), False


def evaluate_with_progress(config: EvalConfig) -> list[TaskResult]:
    """``evaluate`` behind a progress bar showing each task's status; results in suite order."""
    runs, skipped = plan_runs(config)
    for task in skipped:
        tqdm.write(f"skipped optional task {task.env}: {missing_simulator_reason(task.env)}")
    finished: dict[tuple[str, str], TaskResult] = {}
    with tqdm(total=len(runs), desc="eval", unit="task") as bar:
        for run, result, reused in evaluate(config):
            finished[(run.agent, run.task.env)] = result
            status = "reused" if reused else ("n/a" if not result.agent_available else f"{result.success_rate:.0%}")
            bar.set_postfix_str(f"{run.task.env} / {run.agent}: {status}")
            bar.update(1)
            if result.unavailable is not None and not reused:
                tqdm.write(f"{run.agent} has no result on {run.task.env}: {result.unavailable}")
    return [finished[(run.agent, run.task.env)] for run in runs]
