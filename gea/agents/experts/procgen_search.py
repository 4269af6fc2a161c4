"""Search experts for deterministic Procgen games: breadth-first search over the real game's cloned states.

A Procgen game is deterministic given its state, and procgen's gym3 env saves and restores that state
(``get_state``/``set_state``, about 0.1 ms each). Before moving, the expert searches from the current state:
breadth first over the game's distinct actions (``DistinctActions``), skipping a state whose frame was already
reached (the same picture means the same place in these grid games) and any step that ends the episode without
a reward (a death or the timeout), until a step earns a reward. It then plays the steps of that path, and searches
again. When ``max_nodes`` steps of search find no reward, it plays the path to the last state reached (the
farthest from here), so it keeps moving into unexplored parts of the level. The game is restored to the state the
search started from before the expert acts, so the env's own episode bookkeeping is untouched.

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
"""Steps simulated per search (2-3 s of CPU): the whole state space of a Maze level."""


class SearchSettings(NamedTuple):
    """How the search expert plays one game: simulated steps per search, and failed searches before it gives up."""

    max_nodes: int = DEFAULT_MAX_NODES
    patience: int | None = None


SEARCH_GAMES: dict[str, SearchSettings] = {
    "leaper": SearchSettings(max_nodes=200_000),
    "maze": SearchSettings(),
    "miner": SearchSettings(),
}
"""Procgen games served by the search expert, with their settings (each beats random play,
``benchmarks/results/experts.md``). Leaper's lanes move, so no two steps show the same frame and its search
reaches the far bank only with many more steps."""


def distinct_actions(env_id: str) -> tuple[int, ...]:
    """The actions of a Procgen game that do something other than another action (no ``(key X)`` repeats)."""
    from gea.envs import spec
    from gea.train.experts.ppo import DUPLICATE_ACTION

    names = spec(env_id).action.names  # type: ignore[union-attr]
    return tuple(index for index, name in enumerate(names) if not DUPLICATE_ACTION.search(name))


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


class ProcgenSearchExpert:
    """Plays a Procgen game by searching its cloned states for the nearest reward (module docstring).

    ``patience``: after that many searches in a row found no reward, the expert plays uniformly random (distinct)
    actions for the rest of the episode instead of searching on; this bounds the time of an episode the search
    cannot win (``None``: search to the end).
    """

    def __init__(
        self, env_id: str, max_nodes: int = DEFAULT_MAX_NODES, patience: int | None = None, seed: int = 0
    ) -> None:
        self.env_id = env_id
        self.actions = distinct_actions(env_id)
        self.max_nodes = max_nodes
        self.patience = patience
        self.rng = np.random.default_rng(seed)
        self.plan: list[int] = []
        self.failed_searches = 0

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Forget the previous episode's plan."""
        self.plan = []
        self.failed_searches = 0

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> int:
        """The next step of the current plan; a new search when the plan is used up."""
        if self.patience is not None and self.failed_searches >= self.patience:
            return int(self.rng.choice(self.actions))
        if not self.plan:
            path, rewarded = search_path(env.unwrapped.gym3, self.actions, self.max_nodes)
            self.failed_searches = 0 if rewarded else self.failed_searches + 1
            # a search that could not take a single step (every action ends the episode) still has to act
            self.plan = path or [int(self.rng.choice(self.actions))]
        return self.plan.pop(0)


def _register(game: str, settings: SearchSettings) -> None:
    @register_expert(f"procgen:{game}")
    def factory(env_id: str) -> ProcgenSearchExpert:
        return ProcgenSearchExpert(env_id, settings.max_nodes, settings.patience)


for _game, _settings in SEARCH_GAMES.items():
    _register(_game, _settings)
