"""The envs one rank steps, and per-env bookkeeping of episode ends (returns, successes, truncations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gea.envs.vector import GeaVectorEnv, MultiTaskVecEnv, make_vec

VecEnv = GeaVectorEnv | MultiTaskVecEnv


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


@dataclass
class EpisodeEnd:
    """How env ``index``'s episode ended on a step."""

    index: int
    truncated: bool
    success: bool
    final_obs: dict[str, Any] | None
    restarted: bool


def episode_ends(terminated: np.ndarray, truncated: np.ndarray, infos: Any) -> list[EpisodeEnd]:
    """The envs whose episode ended this step, from either vector env's info format (``SAME_STEP`` autoreset)."""
    ends = []
    for index in np.flatnonzero(terminated | truncated):
        if isinstance(infos, list):  # MultiTaskVecEnv: one dict per env
            info = infos[index]
            final_info, final_obs = info.get("final_info", {}), info.get("final_obs")
            restarted = bool(info.get("worker_restarted", False))
        else:  # GeaVectorEnv: Gymnasium's dict of batched entries with "_key" masks
            batched = infos.get("final_info", {})
            present = np.ones(terminated.shape, bool)
            final_info = {
                key: value[index]
                for key, value in batched.items()
                if not key.startswith("_") and batched.get(f"_{key}", present)[index]
            }
            final_obs = infos["final_obs"][index] if "final_obs" in infos else None
            restarted = bool(final_info.get("worker_restarted", False))
        ends.append(
            EpisodeEnd(int(index), bool(truncated[index]), bool(final_info.get("success", False)), final_obs, restarted)
        )
    return ends


@dataclass
class EpisodeStats:
    """Running return/length per env and the finished episodes since the last ``drain``."""

    num_envs: int
    returns: np.ndarray = field(init=False)
    lengths: np.ndarray = field(init=False)
    episode_ids: np.ndarray = field(init=False)
    next_episode: int = field(init=False)
    finished: list[tuple[float, int, bool, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.returns = np.zeros(self.num_envs)
        self.lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.episode_ids = np.arange(self.num_envs, dtype=np.int64)
        self.next_episode = self.num_envs

    def step(self, rewards: np.ndarray, ends: Sequence[EpisodeEnd]) -> None:
        """Add this step's rewards; close the episodes that ended (recording return, length, success, env)."""
        self.returns += rewards
        self.lengths += 1
        for end in ends:
            if not end.restarted:
                record = (float(self.returns[end.index]), int(self.lengths[end.index]), end.success, end.index)
                self.finished.append(record)
            self.returns[end.index], self.lengths[end.index] = 0.0, 0
            self.episode_ids[end.index] = self.next_episode
            self.next_episode += 1

    def drain(self) -> list[tuple[float, int, bool, int]]:
        """The (return, length, success, env index) of episodes finished since the last call."""
        finished, self.finished = self.finished, []
        return finished
