"""Atari adapter: every Atari 2600 game that ale-py ships, driven through ``ale_py.ALEInterface`` directly.

Ids are ``atari:<Game>`` (``atari:Pong``, ``atari:MontezumaRevenge``) with the game's minimal action set,
and ``atari-full:<Game>`` (resolved on demand, not listed) with all 18 joystick actions. The 57 standard
games carry the tag ``atari57``. Action names are ALE's joystick actions in words: ``"do nothing"``,
``"fire"``, ``"up"``, ``"up and fire"``, ``"up, right and fire"``; they are joystick directions, whatever
the game does with them (in Pong ``"right"`` moves the paddle up).

Options (keyword arguments of ``gea.envs.make``): ``frameskip`` (emulator frames per step, default 4; the
reward is summed over them), ``repeat_action_probability`` (sticky actions, default 0.25 as in
Machado et al. 2018), ``noop_max`` (start each episode with 1..noop_max random "do nothing" steps;
default 0), ``terminal_on_life_loss`` (end the episode when a life is lost; the next reset starts a new
game), ``max_num_frames_per_episode`` (default 108,000 frames = 30 minutes, reported as truncation),
``mode``/``difficulty`` (ALE game modes), ``image_size`` (the 210x160 screen is resized, default 64).

``info["success"]``: whether the episode return so far exceeds the game's threshold
(``atari_data.success_threshold``): 0 for versus games such as Pong (the agent is ahead of its opponent),
the random agent's reference score for the other standard games, 0 for the rest. ``info["lives"]`` is
the number of lives left. The emulator is ``env.unwrapped.ale`` (RAM, state cloning) for experts.
Human-normalized scores: ``atari_data.human_normalized_score``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from gea.envs.adapters.atari_data import (
    ACTION_TABLE_COMMAND,
    VERSUS_GAMES,
    load_action_table,
    load_atari_scores,
    rom_to_name,
    rom_to_title,
    success_threshold,
)
from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction
from gea.envs.images import resize
from gea.envs.registry import EnvEntry, add_entry, register_prefix
from gea.errors import ConfigError, UnknownEnvError
from gea.spec import DiscreteActions, EmbodimentSpec

FULL_ACTION_SET = (
    "NOOP",
    "FIRE",
    "UP",
    "RIGHT",
    "LEFT",
    "DOWN",
    "UPRIGHT",
    "UPLEFT",
    "DOWNRIGHT",
    "DOWNLEFT",
    "UPFIRE",
    "RIGHTFIRE",
    "LEFTFIRE",
    "DOWNFIRE",
    "UPRIGHTFIRE",
    "UPLEFTFIRE",
    "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
)
"""ALE's 18 joystick actions (``ale_py.Action`` names) in ALE's order."""

DEFAULT_MAX_FRAMES = 108_000
SCREEN_SIZE = (210, 160)


def action_words(ale_name: str) -> str:
    """An ALE action name in words: ``NOOP`` -> ``do nothing``, ``UPRIGHTFIRE`` -> ``up, right and fire``."""
    if ale_name == "NOOP":
        return "do nothing"
    parts = [part.lower() for part in re.findall("UP|DOWN|LEFT|RIGHT|FIRE", ale_name)]
    if "".join(parts).upper() != ale_name:
        raise ValueError(f"not an ALE action name: {ale_name!r}")
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class AtariEnv(ImageObservationEnv):
    """One Atari game under the platform contract; ``ale`` is the ``ale_py.ALEInterface``."""

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        rom: str,
        ale_actions: Sequence[str],
        frameskip: int = 4,
        repeat_action_probability: float = 0.25,
        noop_max: int = 0,
        terminal_on_life_loss: bool = False,
        max_num_frames_per_episode: int = DEFAULT_MAX_FRAMES,
        mode: int | None = None,
        difficulty: int | None = None,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        render_mode: str | None = "rgb_array",
    ) -> None:
        if not isinstance(frameskip, int) or frameskip < 1:
            raise ValueError(f"frameskip must be an integer >= 1, got {frameskip!r}")
        if not 0.0 <= repeat_action_probability <= 1.0:
            raise ValueError(f"repeat_action_probability must be in [0, 1], got {repeat_action_probability}")
        if noop_max < 0:
            raise ValueError(f"noop_max must be >= 0, got {noop_max}")
        import ale_py
        from ale_py import roms

        super().__init__(embodiment, image_size, render_mode=render_mode)
        self.rom = rom
        self.frameskip = frameskip
        self.noop_max = noop_max
        self.terminal_on_life_loss = terminal_on_life_loss
        self.success_threshold = success_threshold(rom)
        self.instruction = clean_instruction(_instruction(rom))
        self.ale = ale_py.ALEInterface()
        self.ale.setLoggerMode(ale_py.LoggerMode.Error)
        self.ale.setFloat("repeat_action_probability", float(repeat_action_probability))
        self.ale.setInt("max_num_frames_per_episode", int(max_num_frames_per_episode))
        self._rom_path = roms.get_rom_path(rom)
        self._mode = mode
        self._difficulty = difficulty
        self._actions = [ale_py.Action[name] for name in ale_actions]
        self._noop = ale_py.Action.NOOP
        self._native_size = self.image_size == SCREEN_SIZE
        self._screen = np.zeros((*SCREEN_SIZE, 3), np.uint8)
        self._lives = 0
        self._return = 0.0
        self._load(None)
        self._check_actions(ale_actions)

    def _load(self, seed: int | None) -> None:
        """Seed the emulator (from ``seed``, or from fresh entropy) and load the ROM."""
        ale_seed = int(np.random.SeedSequence(seed).generate_state(1)[0] % 2**31)
        self.ale.setInt("random_seed", ale_seed)
        self.ale.loadROM(self._rom_path)
        for what, value, available, setter in (
            ("mode", self._mode, self.ale.getAvailableModes(), self.ale.setMode),
            ("difficulty", self._difficulty, self.ale.getAvailableDifficulties(), self.ale.setDifficulty),
        ):
            if value is None:
                continue
            if value not in available:
                raise ValueError(f"{self.embodiment.id}: {what} {value} is unavailable; choose from {available}")
            setter(value)

    def _check_actions(self, ale_actions: Sequence[str]) -> None:
        full = tuple(ale_actions) == FULL_ACTION_SET
        actual = [action.name for action in (self.ale.getLegalActionSet() if full else self.ale.getMinimalActionSet())]
        if actual != list(ale_actions):
            raise ConfigError(
                f"{self.embodiment.id}: the shipped action table says {list(ale_actions)} but this ale-py "
                f"has {actual}; regenerate the table with `{ACTION_TABLE_COMMAND}`"
            )

    def _observe(self) -> dict[str, Any]:
        if self._native_size:
            self._last_image = self.ale.getScreenRGB()
        else:
            self.ale.getScreenRGB(self._screen)
            self._last_image = resize(self._screen, self.image_size)
        return {"image": self._last_image, "instruction": self.instruction}

    def _repeat(self, action: Any) -> float:
        reward = 0.0
        for _ in range(self.frameskip):
            reward += self.ale.act(action)
            if self.ale.game_over():
                break
        return reward

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a new game (reseeding the emulator when ``seed`` is given), then the random no-op steps."""
        super().reset(seed=seed)
        if seed is not None:
            self._load(seed)
        self.ale.reset_game()
        for _ in range(int(self.np_random.integers(1, self.noop_max + 1)) if self.noop_max else 0):
            self._repeat(self._noop)
            if self.ale.game_over():
                self.ale.reset_game()
        self._lives = self.ale.lives()
        self._return = 0.0
        return self._observe(), {"success": False, "lives": self._lives}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Hold one joystick action for ``frameskip`` frames."""
        reward = self._repeat(self._actions[action])
        self._return += reward
        terminated = self.ale.game_over(with_truncation=False)
        truncated = self.ale.game_truncated()
        lives = self.ale.lives()
        if self.terminal_on_life_loss and lives < self._lives:
            terminated = True
        self._lives = lives
        info = {"success": self._return > self.success_threshold, "lives": lives}
        return self._observe(), reward, terminated, truncated, info


ATARI_57 = frozenset(load_atari_scores())
"""ROM ids of the 57 standard games (those with reference scores)."""


def _instruction(rom: str) -> str:
    if rom in VERSUS_GAMES:
        return f"play {rom_to_title(rom)} and beat your opponent"
    return f"play {rom_to_title(rom)} and score as many points as you can"


def _entry(rom: str, ale_actions: Sequence[str], env_id: str) -> EnvEntry:
    embodiment = EmbodimentSpec(
        id=env_id,
        domain="game",
        action=DiscreteActions(tuple(action_words(name) for name in ale_actions)),
        description=f"a player of the Atari 2600 game {rom_to_title(rom)}, using a joystick with a fire button",
        simulator="Arcade Learning Environment (Atari 2600)",
        camera="game screen",
        max_episode_steps=DEFAULT_MAX_FRAMES // 4,
        extra="atari",
        tags=("atari", "atari57") if rom in ATARI_57 else ("atari",),
    )

    def factory(**kwargs: Any) -> AtariEnv:
        return AtariEnv(embodiment, rom, ale_actions, **kwargs)

    return EnvEntry(embodiment, factory, ("ale_py",))


def _resolve_full(name: str) -> EnvEntry:
    """Entry for ``atari-full:<Game>``: the game with all 18 joystick actions."""
    roms = {rom_to_name(rom): rom for rom in load_action_table()}
    if name not in roms:
        close = difflib.get_close_matches(name, list(roms), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownEnvError(f"unknown Atari game {name!r} in 'atari-full:{name}'.{hint}")
    return _entry(roms[name], FULL_ACTION_SET, f"atari-full:{name}")


for _rom, _actions in load_action_table().items():
    add_entry(_entry(_rom, _actions, f"atari:{rom_to_name(_rom)}"))
register_prefix("atari-full", _resolve_full)
