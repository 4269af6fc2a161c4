"""Evaluate agents on a suite: same seeds for every agent, one result file per (agent, task).

Each finished (agent, task) pair is written atomically to ``<out_dir>/tasks/``; a rerun with the same
settings reuses those files, so a crashed or killed evaluation resumes where it stopped and ends
with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

import gea.envs
from gea.envs.contract import DEFAULT_IMAGE_SIZE
from gea.errors import MissingDependencyError
from gea.files import atomic_write_json
from gea.rollouts.agents import check_agent, make_agent
from gea.rollouts.episodes import EpisodeResult, run_episode
from gea.rollouts.suites import SuiteConfig, SuiteTask
from gea.schema import option

RESULTS_SCHEMA_VERSION = 1


@dataclass
class EvalConfig:
    """Schema of ``gea eval``: agents compared side by side on a suite's tasks, with the same seeds for all."""

    suite: SuiteConfig = option(factory=SuiteConfig, help="the tasks: suite=NAME picks a file, suite.tasks your own")
    agents: list[str] = option(
        factory=lambda: ["random", "expert"],
        help="agents to compare: random, expert, sb3:<model.zip>, gea:<policy dir>, gea-sample:<policy dir>",
    )
    episodes: int | None = option(None, "episodes per task (null: each task's own count)", minimum=1)
    seed: int = option(0, "base seed; every agent plays the same seeds")
    image_size: int = option(DEFAULT_IMAGE_SIZE, "observation images are image_size x image_size pixels", minimum=1)
    end_on_success: bool = option(True, "end an episode at its first successful step")
    videos_per_task: int = option(1, "mp4 videos of the first episodes of each task and agent", minimum=0)
    num_workers: int = option(1, "tasks evaluated in parallel processes", minimum=1)
    resume: bool = option(True, "reuse the results of tasks already finished with the same settings")
    out_dir: str = option("outputs/eval", "where results, report, plots and videos are written")
    trust_remote_code: bool = option(False, "run model code shipped inside a gea:<dir> checkpoint (if you trust it)")


@dataclass(frozen=True)
class TaskRun:
    """One (agent, task) pair to evaluate, with everything that determines its result."""

    agent: str
    task: SuiteTask
    seed: int
    image_size: int
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
        }


@dataclass
class TaskResult:
    """All episodes of one agent on one task."""

    agent: str
    env_id: str
    domain: str
    split: str
    episodes: list[EpisodeResult]
    agent_available: bool = True

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
    agent = make_agent(run.agent, run.task.env, seed, run.trust_remote_code)
    if agent is None:
        return TaskResult(run.agent, run.task.env, spec.domain, run.task.split, [], agent_available=False)
    options = {"max_episode_steps": run.task.max_steps, "image_size": run.image_size, **run.task.env_kwargs}
    env = gea.envs.make(run.task.env, **options)  # a task's own env_kwargs (e.g. image_size) win
    if run.videos > 0:
        from gea.envs.recording import RecordEpisodes

        folder = out_dir / "videos" / slug(run.agent)
        env = RecordEpisodes(env, folder, max_episodes=run.videos, name_prefix=slug(run.task.env))
    try:
        episodes = [
            run_episode(env, agent, seed + index, run.task.env, run.end_on_success)
            for index in range(run.task.episodes)
        ]
    finally:
        env.close()
    return TaskResult(run.agent, run.task.env, spec.domain, run.task.split, episodes)


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


def plan_runs(config: EvalConfig) -> tuple[list[TaskRun], list[SuiteTask]]:
    """The (agent, task) pairs to run, and the optional tasks skipped because their simulator is missing.

    An unknown env id or agent, a missing checkpoint, or a missing simulator for a task that is not optional is an
    error naming the fix, raised here, before any work.
    """
    tasks = [
        task if config.episodes is None else dataclasses.replace(task, episodes=config.episodes)
        for task in config.suite.tasks
    ]
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
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(config.num_workers, mp_context=context) as pool:
        futures = {pool.submit(_evaluate_and_store, run, out_dir): run for run in pending}
        for future in as_completed(futures):
            yield futures[future], future.result(), False


def evaluate_with_progress(config: EvalConfig) -> list[TaskResult]:
    """``evaluate`` behind a progress bar showing each task's status; results in suite order."""
    runs, skipped = plan_runs(config)
    for task in skipped:
        reason = gea.envs.spec(task.env).install_hint or f"pip install 'gea[{gea.envs.spec(task.env).extra}]'"
        tqdm.write(
            f"skipped optional task {task.env}: {', '.join(gea.envs.missing_modules(task.env))} missing ({reason})"
        )
    finished: dict[tuple[str, str], TaskResult] = {}
    with tqdm(total=len(runs), desc="eval", unit="task") as bar:
        for run, result, reused in evaluate(config):
            finished[(run.agent, run.task.env)] = result
            status = "reused" if reused else ("n/a" if not result.agent_available else f"{result.success_rate:.0%}")
            bar.set_postfix_str(f"{run.task.env} / {run.agent}: {status}")
            bar.update(1)
    return [finished[(run.agent, run.task.env)] for run in runs]
