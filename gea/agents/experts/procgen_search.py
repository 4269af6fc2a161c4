"""Search experts for Procgen games: breadth-first search or random shooting over the real game's cloned states.

A Procgen game is deterministic given its state, and procgen's gym3 env saves and restores that state
(``get_state``/``set_state``, about 0.1 ms each). Before moving, the expert searches from the current state:
breadth first over the game's distinct actions (``distinct_actions``), skipping a state whose frame was already
reached (the same picture means the same place in these grid games) and any step that ends the episode without
a reward (a death or the timeout), until a step earns a reward. It then plays the steps of that path, and searches
again. When ``max_nodes`` steps of search find no reward, it plays the path to the last state reached (the
farthest from here), so it keeps moving into unexplored parts of the level. The game is restored to the state the
search started from before the expert acts, so the env's own episode bookkeeping is untouched.

Where frames hardly repeat (smooth movement, moving lanes) or rewards come long after the action that earns them
(Plunder's cannonballs), breadth-first search cannot reach a reward, and the expert shoots instead
(``SearchSettings.rollouts``): it simulates that many futures of uniformly random distinct actions, ``horizon``
steps each, and plays the first ``commit`` steps of the one that earned the most (random play that looks ahead).

These experts serve the games where the project's PPO did not beat random play on a 2-core CPU
(``benchmarks/results/experts.md``); a trained expert of the same game (``gea expert train``) takes precedence.
``SEARCH_GAMES`` lists the games they serve: those where the search beats random play on held-out levels
(``benchmarks/search_experts.py``).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert

DEFAULT_MAX_NODES = 20_000
"""Steps simulated per breadth-first search (2-3 s of CPU): the whole state space of a Maze level."""


class SearchSettings(NamedTuple):
    """How the search expert plays one game: simulated steps per search, failed searches before it gives up, and
    (``rollouts`` > 0) random shooting instead of breadth-first search."""

    max_nodes: int = DEFAULT_MAX_NODES
    patience: int | None = None
    rollouts: int = 0
    horizon: int = 60
    commit: int = 20


LONG_SHOTS = SearchSettings(rollouts=64, horizon=150, commit=30)
"""Random shooting far ahead, for rewards beyond breadth-first reach."""
SEARCH_GAMES: dict[str, SearchSettings] = {
    "climber": LONG_SHOTS,
    "heist": LONG_SHOTS,
    "leaper": LONG_SHOTS,
    "maze": SearchSettings(),
    "miner": SearchSettings(),
    "plunder": SearchSettings(rollouts=8, horizon=60, commit=20),
}
"""Procgen games served by the search expert, with their settings (each beats random play,
``benchmarks/results/experts.md``). Breadth-first search suits the grid games (Maze, Miner); the others shoot:
Climber and Heist move smoothly, so hardly a frame repeats and their rewards lie beyond breadth-first reach,
Leaper's lanes move (no frame ever repeats), and in Plunder a cannonball earns its reward many frames after it
is fired."""


def distinct_actions(env_id: str) -> tuple[int, ...]:
    """The actions of a Procgen game that do something other than another action (no ``(key X)`` repeats)."""
    from gea.envs import spec
    from gea.envs.adapters import procgen_games

    return procgen_games.distinct_actions(spec(env_id).action.names)  # type: ignore[union-attr]


def _frame_key(observation: dict[str, np.ndarray]) -> bytes:
    return hashlib.blake2b(observation["rgb"][0].tobytes(), digest_size=16).digest()


def search_path(game: Any, actions: Sequence[int], max_nodes: int) -> tuple[list[int], bool]:
    """The shortest action path from ``game``'s current state to a reward, and True; without one within
    ``max_nodes`` simulated steps, the path to the last state reached, and False. ``game`` (a procgen gym3 env
    with one game) is left in the state it started in."""
    root = game.get_state()
    _, observation, _ = game.observe()
    seen = {_frame_key(observation)}
    frontier: deque[tuple[Any, list[int]]] = deque([(root, [])])
    action = np.zeros(1, np.int32)
    farthest: list[int] = []
    steps = 0
    try:
        while frontier and steps < max_nodes:
            state, path = frontier.popleft()
            for candidate in actions:
                game.set_state(state)
                action[0] = candidate
                game.act(action)
                reward, observation, episode_over = game.observe()
                steps += 1
                if reward[0] > 0:
                    return [*path, candidate], True
                key = _frame_key(observation)
                if episode_over[0] or key in seen:
                    continue
                seen.add(key)
                farthest = [*path, candidate]
                frontier.append((game.get_state(), farthest))
        return farthest, False
    finally:
        game.set_state(root)


def shoot_path(
    game: Any, actions: Sequence[int], rng: np.random.Generator, rollouts: int, horizon: int
) -> tuple[list[int], bool]:
    """Of ``rollouts`` futures of ``horizon`` uniformly random ``actions`` simulated from ``game``'s current state,
    the one that earned the most (the first on ties, one that ends the episode last among equals), and whether it
    earned any reward; ``game`` is left in the state it started in."""
    root = game.get_state()
    action = np.zeros(1, np.int32)
    best: tuple[float, int] = (-np.inf, -1)
    best_path: list[int] = []
    try:
        for _ in range(rollouts):
            game.set_state(root)
            path = [int(choice) for choice in rng.choice(actions, size=horizon)]
            total, played = 0.0, 0
            for candidate in path:
                action[0] = candidate
                game.act(action)
                reward, _, episode_over = game.observe()
                total += float(reward[0])
                played += 1
                if episode_over[0]:
                    break
            if (total, played) > best:
                best, best_path = (total, played), path[:played]
        return best_path, best[0] > 0
    finally:
        game.set_state(root)


class ProcgenSearchExpert:
    """Plays a Procgen game by searching its cloned states for the nearest reward (module docstring).

    ``patience``: after that many searches in a row found no reward, the expert plays uniformly random (distinct)
    actions for the rest of the episode instead of searching on; this bounds the time of an episode the search
    cannot win (``None``: search to the end).
    """

    def __init__(self, env_id: str, settings: SearchSettings | None = None, seed: int = 0) -> None:
        self.env_id = env_id
        self.actions = distinct_actions(env_id)
        self.settings = settings or SearchSettings()
        self.rng = np.random.default_rng(seed)
        self.plan: list[int] = []
        self.failed_searches = 0

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Forget the previous episode's plan."""
        self.plan = []
        self.failed_searches = 0

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """The next step of the current plan; a new search when the plan is used up."""
        patience = self.settings.patience
        if patience is not None and self.failed_searches >= patience:
            return int(self.rng.choice(self.actions))
        if not self.plan:
            settings = self.settings
            if settings.rollouts:
                path, rewarded = shoot_path(
                    env.unwrapped.gym3, self.actions, self.rng, settings.rollouts, settings.horizon
                )
                path = path[: settings.commit]
            else:
                path, rewarded = search_path(env.unwrapped.gym3, self.actions, settings.max_nodes)
            self.failed_searches = 0 if rewarded else self.failed_searches + 1
            # a search that could not take a single step (every action ends the episode) still has to act
            self.plan = path or [int(self.rng.choice(self.actions))]
        return self.plan.pop(0)


def _register(game: str, settings: SearchSettings) -> None:
    @register_expert(f"procgen:{game}")
    def factory(env_id: str) -> ProcgenSearchExpert:
        return ProcgenSearchExpert(env_id, settings)


for _game, _settings in SEARCH_GAMES.items():
    _register(_game, _settings)
