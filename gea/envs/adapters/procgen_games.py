"""Procgen adapter: the 16 procedurally generated OpenAI Procgen games, through procgen's gym3 interface.

Ids are ``procgen:<game>`` (``procgen:coinrun``). The wrapper talks to ``procgen.ProcgenGym3Env`` directly
(one env, no worker threads) rather than through a Gym compatibility layer, so ``reset(seed=s)`` works.

Actions: Procgen's 15 button combinations in its own order (``BaseProcgenEnv.get_combos``). The first nine
are joystick directions ("left and down", ..., "do nothing", ..., "right and up"); what a direction does is
up to the game (in platformers "up" jumps, in CaveFlyer left/right turn the ship and up thrusts). The last six
are the keys D, A, W, S, Q, E; each is named after what it does in that game ("fire", "throw a key", ...)
and is called ``"do nothing (key X)"`` where the game ignores it (pressing a key also stops the agent).

Episodes: gym3 starts the next level by itself when one ends and only shows its first frame. So the step
that ends an episode returns the old episode's last frame that was shown (the new level is kept for the
next ``reset()``, which then skips no level); a level that reaches the game's timeout
(``PROCGEN_TIMEOUTS``, 500 to 6000 steps) without being completed is ``truncated``, every other end is
``terminated``.

``info["success"]``: True on the step that ends an episode with the level completed (Procgen's
``prev_level_complete``: e.g. the coin reached in CoinRun); False on every other step. ``info["level_seed"]``
names the level being played.

Seeding: ``reset(seed=s)`` rebuilds the game with ``rand_seed=s``, so the sequence of levels (and the first
observation) is the same for the same seed; with ``num_levels=N`` levels come from
``[start_level, start_level + N)``, with ``num_levels=0`` from all levels.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction
from gea.envs.images import resize
from gea.envs.registry import register
from gea.spec import DiscreteActions, EmbodimentSpec

PROCGEN_TIMEOUTS: dict[str, int] = {
    "bigfish": 6000,
    "bossfight": 4000,
    "caveflyer": 1000,
    "chaser": 1000,
    "climber": 1000,
    "coinrun": 1000,
    "dodgeball": 1000,
    "fruitbot": 1000,
    "heist": 1000,
    "jumper": 1000,
    "leaper": 500,
    "maze": 500,
    "miner": 1000,
    "ninja": 1000,
    "plunder": 4000,
    "starpilot": 1000,
}
"""Steps after which Procgen ends an episode of each game (``Game::timeout``, the same in every mode)."""

REPEATED_KEY = re.compile(r" \(key [A-Z]\)$")
"""An action named ``<base> (key X)`` does what ``<base>`` does."""
NATIVE_SIZE = (64, 64)
"""Procgen renders 64x64 frames; other ``image_size`` values are resized."""

PROCGEN_GAMES: dict[str, str] = {
    "bigfish": "eat fish smaller than you to grow, and avoid fish bigger than you",
    "bossfight": "dodge the boss's attacks and shoot it whenever its shield is down until it is destroyed",
    "caveflyer": "fly the ship through the cave to the exit, shooting or avoiding the obstacles",
    "chaser": "collect all the orbs in the maze without being caught; a large orb lets you eat the enemies",
    "climber": "climb the platforms and collect all the stars while avoiding the enemies",
    "coinrun": "reach the coin at the end of the level, avoiding the saws, enemies and lava",
    "dodgeball": "hit every enemy with a ball without being hit, then leave through the door",
    "fruitbot": "collect fruit, avoid other food and walls, and reach the present at the end",
    "heist": "collect the keys to open the matching locks and steal the gem",
    "jumper": "jump and double jump through the cave to reach the carrot, avoiding the spikes",
    "leaper": "cross the road and the river to reach the finish line without being hit or falling in",
    "maze": "find the cheese in the maze",
    "miner": "dig through the dirt to collect all the diamonds, then reach the exit, avoiding falling boulders",
    "ninja": "jump across the ledges to reach the mushroom, avoiding or destroying the bombs",
    "plunder": "sink the enemy pirate ships of the target colour shown in the corner and spare the others",
    "starpilot": "shoot the enemy ships and survive until the end of the level, dodging their fire",
}
"""Every Procgen game and the goal sentence used as its instruction."""

PROCGEN_EASY_RETURN_RANGE: dict[str, tuple[float, float]] = {
    "coinrun": (5.0, 10.0),
    "starpilot": (2.5, 64.0),
    "caveflyer": (3.5, 12.0),
    "dodgeball": (1.5, 19.0),
    "fruitbot": (-1.5, 32.4),
    "chaser": (0.5, 13.0),
    "miner": (1.5, 13.0),
    "jumper": (3.0, 10.0),
    "leaper": (3.0, 10.0),
    "maze": (5.0, 10.0),
    "bigfish": (1.0, 40.0),
    "heist": (3.5, 10.0),
    "climber": (2.0, 12.6),
    "plunder": (4.5, 30.0),
    "ninja": (3.5, 10.0),
    "bossfight": (0.5, 13.0),
}
"""(R_min, R_max) per game in easy mode, for min-max normalized returns (Cobbe et al. 2020, as used by GEA)."""

DISTRIBUTION_MODES: dict[str, frozenset[str] | None] = {
    "easy": None,
    "hard": None,
    "extreme": frozenset({"chaser", "dodgeball", "leaper", "starpilot"}),
    "memory": frozenset({"caveflyer", "dodgeball", "heist", "jumper", "maze", "miner"}),
}
"""Supported distribution modes and the games that have them (None: every game)."""

_TITLES = {
    "bigfish": "BigFish",
    "bossfight": "BossFight",
    "caveflyer": "CaveFlyer",
    "chaser": "Chaser",
    "climber": "Climber",
    "coinrun": "CoinRun",
    "dodgeball": "Dodgeball",
    "fruitbot": "FruitBot",
    "heist": "Heist",
    "jumper": "Jumper",
    "leaper": "Leaper",
    "maze": "Maze",
    "miner": "Miner",
    "ninja": "Ninja",
    "plunder": "Plunder",
    "starpilot": "StarPilot",
}
_MOVES = (
    "left and down",
    "left",
    "left and up",
    "down",
    "do nothing",
    "up",
    "right and down",
    "right",
    "right and up",
)
_KEYS = ("D", "A", "W", "S", "Q", "E")
_KEY_ACTIONS: dict[str, dict[str, str]] = {
    "bossfight": {"D": "fire"},
    "caveflyer": {"D": "fire"},
    "dodgeball": {"D": "throw a ball"},
    "fruitbot": {"D": "throw a key"},
    "plunder": {"D": "fire a cannonball"},
    "starpilot": {
        "D": "fire forward",
        "A": "fire backward",
        "W": "fire forward (key W)",
        "S": "fire forward (key S)",
        "Q": "fire forward (key Q)",
        "E": "fire forward (key E)",
    },
    "ninja": {
        "D": "throw a star forward",
        "A": "throw a star up and forward",
        "W": "throw a star up",
        "S": "throw a star down and forward",
        "Q": "throw a star forward (key Q)",
        "E": "throw a star forward (key E)",
    },
}


def action_names(game: str) -> tuple[str, ...]:
    """The 15 action names of a Procgen game, in Procgen's action order."""
    keys = _KEY_ACTIONS.get(game, {})
    return _MOVES + tuple(keys.get(key, f"do nothing (key {key})") for key in _KEYS)


def distinct_actions(names: Sequence[str]) -> tuple[int, ...]:
    """Indices of the actions that do something no other action does: all but those named ``<base> (key X)``,
    a key that repeats ``<base>`` (``action_names`` names Procgen's unused keys so)."""
    return tuple(index for index, name in enumerate(names) if not REPEATED_KEY.search(name))


def normalized_return(game: str, episode_return: float) -> float:
    """Min-max normalize an easy-mode episode return with ``PROCGEN_EASY_RETURN_RANGE`` (0 = R_min, 1 = R_max)."""
    low, high = PROCGEN_EASY_RETURN_RANGE[game]
    return (episode_return - low) / (high - low)


def _import_procgen() -> Any:
    # procgen imports the legacy ``gym`` package, which prints a deprecation notice on import.
    with contextlib.redirect_stderr(io.StringIO()):
        import procgen
    return procgen


class ProcgenEnv(ImageObservationEnv):
    """One Procgen game under the platform contract.

    ``gym3`` is the underlying ``procgen.ProcgenGym3Env`` (``num=1``), for experts and tools that need raw
    access (``get_state``/``set_state``); it is rebuilt by every seeded reset.
    """

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        game: str,
        distribution_mode: str = "easy",
        num_levels: int = 0,
        start_level: int = 0,
        use_backgrounds: bool = True,
        center_agent: bool = True,
        paint_vel_info: bool = False,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        render_mode: str | None = "rgb_array",
    ) -> None:
        _check_distribution_mode(game, distribution_mode)
        if num_levels < 0 or start_level < 0:
            raise ValueError(f"num_levels and start_level must be >= 0, got {num_levels} and {start_level}")
        super().__init__(embodiment, image_size, render_mode=render_mode)
        self._procgen = _import_procgen()
        self.game = game
        self.instruction = clean_instruction(PROCGEN_GAMES[game])
        self._options: dict[str, Any] = {
            "env_name": game,
            "distribution_mode": distribution_mode,
            "num_levels": num_levels,
            "start_level": start_level,
            "use_backgrounds": use_backgrounds,
            "center_agent": center_agent,
            "paint_vel_info": paint_vel_info,
        }
        self.gym3: Any = None
        self._native_size = self.image_size == NATIVE_SIZE
        self._action = np.zeros(1, np.int32)
        self._elapsed = 0
        self._level_seed = 0
        self._next_level_ready = False

    def _build(self, rand_seed: int) -> None:
        if self.gym3 is not None:
            self.gym3.close()
        self.gym3 = self._procgen.ProcgenGym3Env(num=1, num_threads=0, rand_seed=rand_seed, **self._options)

    def _observe(self, frame: np.ndarray) -> dict[str, Any]:
        self._last_image = frame if self._native_size else resize(frame, self.image_size)
        return {"image": self._last_image, "instruction": self.instruction}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a level: a new level sequence when seeded, else the next level of the current one."""
        super().reset(seed=seed)
        if seed is not None:
            self._build(seed % 2**31)
        elif self.gym3 is None:
            self._build(int(self.np_random.integers(2**31)))
        elif not self._next_level_ready:
            self._action[0] = -1  # procgen's "end this episode now" action
            self.gym3.act(self._action)
        _, obs, _ = self.gym3.observe()
        self._level_seed = int(self.gym3.get_info()[0]["level_seed"])
        self._elapsed = 0
        self._next_level_ready = False
        return self._observe(obs["rgb"][0]), {"success": False, "level_seed": self._level_seed}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Press one button combination for one frame."""
        self._action[0] = action
        self.gym3.act(self._action)
        reward, obs, first = self.gym3.observe()
        self._elapsed += 1
        info: dict[str, Any] = {"success": False, "level_seed": self._level_seed}
        if not first[0]:
            return self._observe(obs["rgb"][0]), float(reward[0]), False, False, info
        info["success"] = bool(self.gym3.get_info()[0]["prev_level_complete"])
        truncated = not info["success"] and self._elapsed >= PROCGEN_TIMEOUTS[self.game]
        self._next_level_ready = True
        observation = {"image": self._last_image, "instruction": self.instruction}
        return observation, float(reward[0]), not truncated, truncated, info

    def close(self) -> None:
        """Free the game."""
        if self.gym3 is not None:
            self.gym3.close()
            self.gym3 = None


def _check_distribution_mode(game: str, mode: str) -> None:
    if mode not in DISTRIBUTION_MODES:
        raise ValueError(f"distribution_mode must be one of {sorted(DISTRIBUTION_MODES)}, got {mode!r}")
    games = DISTRIBUTION_MODES[mode]
    if games is not None and game not in games:
        raise ValueError(f"procgen:{game} has no {mode!r} distribution mode; games that do: {sorted(games)}")


def _register(game: str) -> None:
    embodiment = EmbodimentSpec(
        id=f"procgen:{game}",
        domain="game",
        action=DiscreteActions(action_names(game)),
        description=f"a player of the Procgen video game {_TITLES[game]}, using a joystick and buttons",
        simulator="OpenAI Procgen",
        camera="game screen",
        max_episode_steps=PROCGEN_TIMEOUTS[game],
        extra="procgen",
        tags=("procgen",),
    )

    @register(embodiment, requires=("procgen",))
    def factory(**kwargs: Any) -> ProcgenEnv:
        return ProcgenEnv(embodiment, game, **kwargs)


for _game in PROCGEN_GAMES:
    _register(_game)
