"""``gea collect``: run experts in worker processes across tasks and write an episode dataset.

Work is split into episodes (env id, attempt number); each episode's seed is derived from
``(seed, env id, attempt)``, so an episode is the same whichever worker runs it. Results are taken in
submission order, which makes the kept episodes of a task "the first N that pass the success filter"
and lets ``resume=true`` continue from the committed shards after a crash or ``kill -9``, neither
duplicating nor losing episodes. A worker that dies is replaced and its episodes are rerun.
"""

from __future__ import annotations

import fnmatch
import time
import zlib
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf
from tqdm import tqdm

import gea.envs
from gea.agents.experts import has_expert
from gea.config import save_config
from gea.envs.contract import DEFAULT_IMAGE_SIZE, as_image_size
from gea.errors import ConfigError, EnvWorkerError
from gea.plugins import load_plugins
from gea.processes import worker_pool
from gea.rollouts.dataset.episode import Episode
from gea.rollouts.dataset.images import IMAGE_FORMATS
from gea.rollouts.dataset.layout import embodiment_document, meta_path
from gea.rollouts.dataset.meta import DatasetMeta
from gea.rollouts.dataset.repair import read_dropped
from gea.rollouts.dataset.writer import DatasetWriter
from gea.rollouts.expert_episode import EpisodeJob, collect_episode
from gea.schema import option

MAX_POOL_RESTARTS = 3
# Settings that decide which episodes a dataset holds; a resumed run must keep them.
CONTENT_KEYS = (
    "envs",
    "suite",
    "episodes_per_task",
    "seed",
    "expert",
    "action_noise",
    "success_only",
    "max_attempts_factor",
    "stop_on_success",
    "image_size",
    "image_format",
    "max_episode_steps",
    "env_kwargs",
    "task_env_kwargs",
    "task_episodes",
)


@dataclass
class CollectConfig:
    """Schema of ``gea collect``: which experts play which tasks, how many episodes, and where they are written."""

    envs: list[str] = option(factory=list, help="env ids or glob patterns, e.g. [babyai:GoToLocal,metaworld:reach-*]")
    suite: str | None = option(None, "a registry tag (MT10) or env family (babyai): its ids that have an expert")
    episodes_per_task: int = option(10, "expert episodes kept per task", minimum=1)
    num_envs: int = option(2, "worker processes (0: everything in this process)", minimum=0)
    expert: str = option("auto", "auto (the registered expert) or package.module:factory")
    success_only: bool = option(False, "keep only successful episodes (retrying up to the attempt limit)")
    max_attempts_factor: int = option(3, "with success_only: at most factor x episodes attempts per task", minimum=1)
    action_noise: float = option(
        0.0, "noise on executed actions (continuous: std as a fraction of half the range)", minimum=0
    )
    stop_on_success: bool = option(True, "end an episode at its first successful step")
    image_size: int = option(DEFAULT_IMAGE_SIZE, "observation images are image_size x image_size pixels", minimum=1)
    image_format: str = option(
        "raw",
        "image encoding in the dataset (raw: lossless, read without decoding, and at 64 px smaller than png)",
        choices=tuple(IMAGE_FORMATS),
    )
    max_episode_steps: int | None = option(None, "step limit of an episode (null: the env's own)", minimum=1)
    env_kwargs: dict[str, Any] = option(factory=dict, help="options for every env, e.g. +env_kwargs.view=agent")
    task_env_kwargs: list[dict[str, Any]] = option(
        factory=list, help="options for some tasks only: [{env: ID, key: value, ...}]"
    )
    task_episodes: list[dict[str, Any]] = option(
        factory=list, help="a different episode count for some tasks: [{env: ID, episodes: N}]"
    )
    out: str = option("data/expert", "the dataset folder to write")
    seed: int = option(0, "base seed (each episode's seed derives from seed, env id and attempt)")
    resume: bool = option(False, "continue an interrupted collection in out without duplicating episodes")
    shard_max_rows: int = option(10_000, "steps per Parquet shard", minimum=1)
    row_group_rows: int = option(1_000, "steps per Parquet row group", minimum=1)
    progress: bool = option(True, "show a progress bar")
    imports: list[str] = option(
        factory=list, help="your modules that register envs and experts (workers import them too)"
    )


@dataclass
class CollectResult:
    """What a collection run did."""

    meta: DatasetMeta
    tasks: list[str]
    attempts: dict[str, int]
    successes: dict[str, int]
    steps: int
    seconds: float

    @property
    def steps_per_second(self) -> float:
        """Collected (kept and rejected) steps per wall-clock second of this run."""
        return self.steps / max(self.seconds, 1e-9)


def resolve_tasks(config: CollectConfig) -> list[str]:
    """The env ids to collect: ``envs`` (ids or globs) plus every id of ``suite``, in a stable order."""
    known = gea.envs.list_envs()
    tasks: list[str] = []
    for pattern in config.envs:
        matches = [env_id for env_id in known if fnmatch.fnmatchcase(env_id, pattern)]
        if not matches and any(ch in pattern for ch in "*?["):
            raise ConfigError(f"envs: pattern {pattern!r} matches no registered env id (see `gea envs list`)")
        tasks += matches or [pattern]
    if config.suite:
        members = gea.envs.list_envs(tag=config.suite) or gea.envs.list_envs(contains=f"{config.suite}:")
        if not members:
            raise ConfigError(f"suite {config.suite!r} is neither a registry tag nor an env family")
        tasks += [env_id for env_id in members if config.expert != "auto" or has_expert(env_id)]
    tasks = list(dict.fromkeys(tasks))
    if not tasks:
        raise ConfigError("nothing to collect: give envs=[ID,...] or suite=NAME")
    for env_id in tasks:
        gea.envs.spec(env_id)  # raises UnknownEnvError with suggestions
        if config.expert == "auto" and not has_expert(env_id):
            raise ConfigError(f"no expert is registered for {env_id}; drop it or pass expert=package.module:factory")
    return tasks


def episode_seed(seed: int, env_id: str, attempt: int) -> int:
    """The reset seed of attempt ``attempt`` on ``env_id``: a hash of (seed, env id, attempt)."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(env_id.encode()), attempt])
    return int(sequence.generate_state(1)[0])


def task_label(env_id: str) -> str:
    """The ``task`` column: the env id without its family prefix."""
    return env_id.split(":", 1)[-1]


class _InlineExecutor:
    """Runs each job at submission, in this process (``num_envs=0``)."""

    def submit(self, function: Any, job: EpisodeJob) -> Future[Episode]:
        future: Future[Episode] = Future()
        try:
            future.set_result(function(job))
        except Exception as error:
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Nothing to stop."""


def _executor(num_envs: int) -> Any:
    if num_envs <= 0:
        return _InlineExecutor()
    return worker_pool(num_envs)


def task_kwargs(config: CollectConfig, env_id: str) -> dict[str, Any]:
    """The ``task_env_kwargs`` entry of ``env_id`` (without its ``env`` key), or none."""
    for entry in config.task_env_kwargs:
        if "env" not in entry:
            raise ConfigError(f"each task_env_kwargs entry needs an env id, e.g. {{env: {env_id}, view: agent}}")
        if entry["env"] == env_id:
            return {key: value for key, value in entry.items() if key != "env"}
    return {}


def episodes_for(config: CollectConfig, env_id: str) -> int:
    """Episodes to keep for ``env_id``: its ``task_episodes`` entry, else ``episodes_per_task``."""
    for entry in config.task_episodes:
        if set(entry) != {"env", "episodes"}:
            raise ConfigError(f"each task_episodes entry reads {{env: ID, episodes: N}}, got {entry}")
        if entry["env"] == env_id:
            return int(entry["episodes"])
    return config.episodes_per_task


def _check_resume(config: CollectConfig) -> None:
    """A resumed run must use the settings that decided the dataset's content."""
    saved_file = meta_path(Path(config.out), "collect.yaml")
    if not (config.resume and saved_file.exists()):
        return
    saved = OmegaConf.to_container(OmegaConf.load(saved_file))
    current = asdict(config)
    assert isinstance(saved, dict)
    defaults = asdict(CollectConfig())  # a key added after the dataset was written has its default there
    changed = [key for key in CONTENT_KEYS if saved.get(key, defaults[key]) != current[key]]
    if changed:
        raise ConfigError(
            f"resume=true with different {', '.join(changed)} than {saved_file}; use the saved values "
            "or a new out folder"
        )


class _Scheduler:
    """Decides which episode to run next and which finished ones to keep, in submission order."""

    def __init__(
        self,
        config: CollectConfig,
        tasks: list[str],
        committed: list[dict[str, Any]],
        dropped: list[dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self.tasks = tasks
        self.wanted = {env_id: episodes_for(config, env_id) for env_id in tasks}
        factor = config.max_attempts_factor if config.success_only else 1
        self.limit = {env_id: wanted * factor for env_id, wanted in self.wanted.items()}
        self.kept = dict.fromkeys(tasks, 0)
        self.next_attempt = dict.fromkeys(tasks, 0)
        for row in committed:
            if row["embodiment"] in self.kept:
                self.kept[row["embodiment"]] += 1
                self.next_attempt[row["embodiment"]] = max(self.next_attempt[row["embodiment"]], row["attempt"] + 1)
        # attempts whose episodes `gea dataset repair` removed with a damaged shard: run again first
        done = {(row["embodiment"], row["attempt"]) for row in committed}
        self.redo: dict[str, list[int]] = {env_id: [] for env_id in tasks}
        for row in dropped or []:
            key = (row["embodiment"], int(row["attempt"]))
            if key[0] in self.redo and key not in done and key[1] not in self.redo[key[0]]:
                self.redo[key[0]].append(key[1])
        self.in_flight = dict.fromkeys(tasks, 0)
        self.attempts = dict.fromkeys(tasks, 0)
        self.successes = dict.fromkeys(tasks, 0)

    def next_job(self) -> EpisodeJob | None:
        """The next episode worth running, or None if every task is done or has one in flight for each need."""
        for env_id in self.tasks:
            needed = self.wanted[env_id] - self.kept[env_id] - self.in_flight[env_id]
            if needed > 0 and self.redo[env_id]:
                self.in_flight[env_id] += 1
                return self._job(env_id, self.redo[env_id].pop(0))
            if needed > 0 and self.next_attempt[env_id] < self.limit[env_id]:
                attempt = self.next_attempt[env_id]
                self.next_attempt[env_id] += 1
                self.in_flight[env_id] += 1
                return self._job(env_id, attempt)
        return None

    def _job(self, env_id: str, attempt: int) -> EpisodeJob:
        config = self.config
        return EpisodeJob(
            env_id=env_id,
            task=task_label(env_id),
            attempt=attempt,
            seed=episode_seed(config.seed, env_id, attempt),
            expert=config.expert,
            action_noise=config.action_noise,
            stop_on_success=config.stop_on_success,
            image_size=config.image_size,
            image_format=config.image_format,
            max_episode_steps=config.max_episode_steps,
            env_kwargs=tuple(sorted({**config.env_kwargs, **task_kwargs(config, env_id)}.items())),
        )

    def finish(self, job: EpisodeJob, episode: Episode) -> bool:
        """Record a finished episode (in submission order); True if it is kept."""
        self.in_flight[job.env_id] -= 1
        self.attempts[job.env_id] += 1
        self.successes[job.env_id] += int(episode.success)
        if self.kept[job.env_id] >= self.wanted[job.env_id]:
            return False
        if self.config.success_only and not episode.success:
            return False
        self.kept[job.env_id] += 1
        return True

    @property
    def remaining(self) -> int:
        """Episodes still to keep."""
        return sum(max(self.wanted[env_id] - kept, 0) for env_id, kept in self.kept.items())


def collect(config: CollectConfig) -> CollectResult:
    """Collect ``episodes_per_task`` (or the task's ``task_episodes``) expert episodes per task into ``config.out``."""
    load_plugins(config.imports)
    tasks = resolve_tasks(config)
    _check_resume(config)
    out = Path(config.out)
    writer = DatasetWriter(
        out,
        config.image_format,
        config.shard_max_rows,
        config.row_group_rows,
        append=config.resume,
        source={"kind": "collect", "detail": f"expert={config.expert}"},
    )
    save_config(config, meta_path(out, "collect.yaml"))
    for env_id in tasks:
        options = {"image_size": config.image_size, **config.env_kwargs, **task_kwargs(config, env_id)}
        image_size = as_image_size(options["image_size"])
        writer.add_embodiment(env_id, embodiment_document(gea.envs.spec(env_id), image_size))
    committed = writer.committed.select(["embodiment", "attempt"]).to_pylist()
    scheduler = _Scheduler(config, tasks, committed, read_dropped(out) if config.resume else [])
    started, steps = time.perf_counter(), 0
    total = sum(scheduler.wanted.values())
    with tqdm(total=total, initial=total - scheduler.remaining, unit="ep", disable=not config.progress) as bar:
        for job, episode in _run_in_order(scheduler, max(config.num_envs, 0)):
            steps += episode.length
            if scheduler.finish(job, episode):
                writer.add_episode(episode)
                bar.update(1)
            elapsed = time.perf_counter() - started
            done = sum(scheduler.attempts.values())
            bar.set_postfix(
                steps_per_s=f"{steps / elapsed:.0f}", success=f"{sum(scheduler.successes.values()) / done:.0%}"
            )
    meta = writer.close()
    return CollectResult(meta, tasks, scheduler.attempts, scheduler.successes, steps, time.perf_counter() - started)


def _run_in_order(scheduler: _Scheduler, num_envs: int) -> Any:
    """Yield (job, episode) in submission order, keeping ``2 x num_envs`` episodes in flight."""
    window = max(2 * num_envs, 1)
    executor = _executor(num_envs)
    pending: deque[tuple[EpisodeJob, Future[Episode]]] = deque()
    restarts = 0
    try:
        while True:
            while len(pending) < window and (job := scheduler.next_job()) is not None:
                pending.append((job, executor.submit(collect_episode, job)))
            if not pending:
                return
            wait([future for _, future in pending], return_when=FIRST_COMPLETED)
            while pending and pending[0][1].done():
                job, future = pending[0]
                try:
                    episode = future.result()
                except BrokenProcessPool as error:
                    restarts += 1
                    if restarts > MAX_POOL_RESTARTS:
                        raise EnvWorkerError(
                            f"collection workers died {restarts} times (last while running {job.env_id} "
                            f"attempt {job.attempt}); check that env alone with `gea envs show {job.env_id}`"
                        ) from error
                    executor.shutdown(wait=False, cancel_futures=True)
                    executor = _executor(num_envs)
                    jobs = [queued for queued, _ in pending]
                    pending = deque((queued, executor.submit(collect_episode, queued)) for queued in jobs)
                    break
                except Exception as error:
                    raise EnvWorkerError(
                        f"{job.env_id} attempt {job.attempt} (seed {job.seed}) failed in a collection worker: {error}"
                    ) from error
                pending.popleft()
                yield job, episode
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
