"""Procgen search experts: searches on the real game leave its state untouched, solve Maze, collect in Miner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("procgen", reason="the search experts play Procgen (optional `procgen` extra)")

import gea.envs
from gea.agents.experts import make_expert, registered_experts
from gea.agents.experts.procgen_search import (
    SEARCH_GAMES,
    ProcgenSearchExpert,
    SearchSettings,
    distinct_actions,
    search_path,
    shoot_path,
)
from gea.rollouts.episodes import run_episode

HELD_OUT_SEED = 5_500_000  # the first evaluation seed of benchmarks/search_experts.py


@pytest.fixture
def maze() -> Iterator[Any]:
    env = gea.envs.make("procgen:maze")
    env.reset(seed=HELD_OUT_SEED + 3)
    yield env
    env.close()


def _state(env: Any) -> bytes:
    return bytes(env.unwrapped.gym3.get_state()[0])


@pytest.mark.parametrize("max_nodes", [5, 20_000])
def test_search_leaves_the_game_where_it_started(maze: Any, max_nodes: int) -> None:
    before = _state(maze)
    path, rewarded = search_path(maze.unwrapped.gym3, distinct_actions("procgen:maze"), max_nodes)
    assert _state(maze) == before
    assert path, "a search that can move returns a path"
    assert rewarded == (max_nodes == 20_000), "the whole maze fits in 20,000 steps of search, not in 5"


def test_the_found_path_earns_the_reward_when_played(maze: Any) -> None:
    path, rewarded = search_path(maze.unwrapped.gym3, distinct_actions("procgen:maze"), 20_000)
    assert rewarded
    rewards = [maze.step(action)[1] for action in path]
    assert rewards[-1] == 10.0 and sum(rewards[:-1]) == 0.0


def test_distinct_actions_drop_the_repeated_keys() -> None:
    assert distinct_actions("procgen:maze") == tuple(range(9))
    assert distinct_actions("procgen:starpilot") == tuple(range(11))  # fire forward and fire backward count


def test_search_games_resolve_to_the_search_expert() -> None:
    for game in SEARCH_GAMES:
        assert isinstance(make_expert(f"procgen:{game}"), ProcgenSearchExpert)
    assert registered_experts()["procgen:bigfish"].endswith("net_expert"), "a trained expert is kept"


@pytest.mark.parametrize(("game", "minimum"), [("maze", 10.0), ("miner", 1.0)])
def test_expert_plays_held_out_levels(game: str, minimum: float) -> None:
    env_id = f"procgen:{game}"
    env = gea.envs.make(env_id)
    try:
        results = [run_episode(env, make_expert(env_id), HELD_OUT_SEED + i, env_id) for i in range(2)]
    finally:
        env.close()
    assert all(result.episode_return >= minimum for result in results), [r.episode_return for r in results]


@pytest.mark.parametrize(("patience", "searches"), [(None, 5), (2, 2)])
def test_expert_acts_when_searches_fail_and_gives_up_after_its_patience(
    maze: Any, monkeypatch: pytest.MonkeyPatch, patience: int | None, searches: int
) -> None:
    calls = []

    def failing_search(*args: Any) -> tuple[list[int], bool]:
        calls.append(args)
        return [], False  # not even one step is possible

    monkeypatch.setattr("gea.agents.experts.procgen_search.search_path", failing_search)
    expert = ProcgenSearchExpert("procgen:maze", SearchSettings(patience=patience))
    expert.reset(maze)
    assert all(expert.act(maze, {}) in expert.actions for _ in range(5))
    assert len(calls) == searches
    expert.reset(maze)
    expert.act(maze, {})
    assert len(calls) == searches + 1, "a new episode searches again"


def test_shooting_leaves_the_game_where_it_started_and_is_reproducible(maze: Any) -> None:
    before = _state(maze)
    actions = distinct_actions("procgen:maze")
    paths = [shoot_path(maze.unwrapped.gym3, actions, np.random.default_rng(7), 4, 30) for _ in range(2)]
    assert _state(maze) == before
    assert paths[0] == paths[1] and 0 < len(paths[0][0]) <= 30


def test_shooting_expert_outscores_random_play_in_plunder() -> None:
    env = gea.envs.make("procgen:plunder")
    try:
        result = run_episode(env, make_expert("procgen:plunder"), HELD_OUT_SEED, "procgen:plunder")
    finally:
        env.close()
    assert result.episode_return >= 5.0  # random play: 4.50 over 100 held-out episodes (experts.md)
