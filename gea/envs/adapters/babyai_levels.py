"""BabyAI (minigrid): every level minigrid registers, as ``babyai:<Level>`` with a top-down or egocentric image.

The minigrid env is exposed as ``env.unwrapped.minigrid`` for experts (the BabyAI bot reads its grid and
instructions). ``info["success"]`` is True when the mission is completed (positive reward on termination).
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any, Literal

import numpy as np

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction
from gea.envs.images import resize
from gea.envs.registry import register
from gea.spec import DiscreteActions, EmbodimentSpec

View = Literal["full", "agent"]
VIEWS: tuple[str, ...] = ("full", "agent")

ACTION_NAMES: tuple[str, ...] = ("turn left", "turn right", "move forward", "pick up", "drop", "toggle", "done")

DESCRIPTION = (
    "a triangle-shaped agent in a 2-D grid world of rooms, doors, keys, balls and boxes; it turns, moves "
    "forward, picks up, drops and toggles (opens doors and boxes)"
)

# (level name, minigrid id, episode step bound). The bound is minigrid's own per-episode limit where that is
# fixed; for the grammar-generated levels (LevelGen) it is the limit of the longest possible instruction
# (8 navigations). minigrid truncates each episode at its own, often smaller, limit.
LEVELS: tuple[tuple[str, str, int], ...] = (
    ("GoToRedBallGrey", "BabyAI-GoToRedBallGrey-v0", 64),
    ("GoToRedBall", "BabyAI-GoToRedBall-v0", 64),
    ("GoToRedBallNoDists", "BabyAI-GoToRedBallNoDists-v0", 64),
    ("GoToObj", "BabyAI-GoToObj-v0", 64),
    ("GoToObjS4", "BabyAI-GoToObjS4-v0", 16),
    ("GoToObjS6", "BabyAI-GoToObjS6-v1", 36),
    ("GoToLocal", "BabyAI-GoToLocal-v0", 64),
    ("GoToLocalS5N2", "BabyAI-GoToLocalS5N2-v0", 25),
    ("GoToLocalS6N2", "BabyAI-GoToLocalS6N2-v0", 36),
    ("GoToLocalS6N3", "BabyAI-GoToLocalS6N3-v0", 36),
    ("GoToLocalS6N4", "BabyAI-GoToLocalS6N4-v0", 36),
    ("GoToLocalS7N4", "BabyAI-GoToLocalS7N4-v0", 49),
    ("GoToLocalS7N5", "BabyAI-GoToLocalS7N5-v0", 49),
    ("GoToLocalS8N2", "BabyAI-GoToLocalS8N2-v0", 64),
    ("GoToLocalS8N3", "BabyAI-GoToLocalS8N3-v0", 64),
    ("GoToLocalS8N4", "BabyAI-GoToLocalS8N4-v0", 64),
    ("GoToLocalS8N5", "BabyAI-GoToLocalS8N5-v0", 64),
    ("GoToLocalS8N6", "BabyAI-GoToLocalS8N6-v0", 64),
    ("GoToLocalS8N7", "BabyAI-GoToLocalS8N7-v0", 64),
    ("GoTo", "BabyAI-GoTo-v0", 576),
    ("GoToOpen", "BabyAI-GoToOpen-v0", 576),
    ("GoToObjMaze", "BabyAI-GoToObjMaze-v0", 576),
    ("GoToObjMazeOpen", "BabyAI-GoToObjMazeOpen-v0", 576),
    ("GoToObjMazeS4R2", "BabyAI-GoToObjMazeS4R2-v0", 64),
    ("GoToObjMazeS4", "BabyAI-GoToObjMazeS4-v0", 144),
    ("GoToObjMazeS5", "BabyAI-GoToObjMazeS5-v0", 225),
    ("GoToObjMazeS6", "BabyAI-GoToObjMazeS6-v0", 324),
    ("GoToObjMazeS7", "BabyAI-GoToObjMazeS7-v0", 441),
    ("GoToImpUnlock", "BabyAI-GoToImpUnlock-v0", 576),
    ("GoToSeq", "BabyAI-GoToSeq-v0", 4608),
    ("GoToSeqS5R2", "BabyAI-GoToSeqS5R2-v0", 800),
    ("GoToRedBlueBall", "BabyAI-GoToRedBlueBall-v0", 64),
    ("GoToDoor", "BabyAI-GoToDoor-v0", 441),
    ("GoToObjDoor", "BabyAI-GoToObjDoor-v0", 576),
    ("Open", "BabyAI-Open-v0", 576),
    ("OpenRedDoor", "BabyAI-OpenRedDoor-v0", 50),
    ("OpenDoor", "BabyAI-OpenDoor-v0", 576),
    ("OpenDoorDebug", "BabyAI-OpenDoorDebug-v0", 576),
    ("OpenDoorColor", "BabyAI-OpenDoorColor-v0", 576),
    ("OpenDoorLoc", "BabyAI-OpenDoorLoc-v0", 576),
    ("OpenTwoDoors", "BabyAI-OpenTwoDoors-v0", 720),
    ("OpenRedBlueDoors", "BabyAI-OpenRedBlueDoors-v0", 720),
    ("OpenRedBlueDoorsDebug", "BabyAI-OpenRedBlueDoorsDebug-v0", 720),
    ("OpenDoorsOrderN2", "BabyAI-OpenDoorsOrderN2-v0", 720),
    ("OpenDoorsOrderN4", "BabyAI-OpenDoorsOrderN4-v0", 720),
    ("OpenDoorsOrderN2Debug", "BabyAI-OpenDoorsOrderN2Debug-v0", 720),
    ("OpenDoorsOrderN4Debug", "BabyAI-OpenDoorsOrderN4Debug-v0", 720),
    ("Pickup", "BabyAI-Pickup-v0", 576),
    ("UnblockPickup", "BabyAI-UnblockPickup-v0", 576),
    ("PickupLoc", "BabyAI-PickupLoc-v0", 512),
    ("PickupDist", "BabyAI-PickupDist-v0", 49),
    ("PickupDistDebug", "BabyAI-PickupDistDebug-v0", 49),
    ("PickupAbove", "BabyAI-PickupAbove-v0", 288),
    ("PutNextLocal", "BabyAI-PutNextLocal-v0", 128),
    ("PutNextLocalS5N3", "BabyAI-PutNextLocalS5N3-v0", 50),
    ("PutNextLocalS6N4", "BabyAI-PutNextLocalS6N4-v0", 72),
    ("PutNextS4N1", "BabyAI-PutNextS4N1-v0", 128),
    ("PutNextS5N2", "BabyAI-PutNextS5N2-v0", 200),
    ("PutNextS5N1", "BabyAI-PutNextS5N1-v0", 200),
    ("PutNextS6N3", "BabyAI-PutNextS6N3-v0", 288),
    ("PutNextS7N4", "BabyAI-PutNextS7N4-v0", 392),
    ("PutNextS5N2Carrying", "BabyAI-PutNextS5N2Carrying-v0", 200),
    ("PutNextS6N3Carrying", "BabyAI-PutNextS6N3Carrying-v0", 288),
    ("PutNextS7N4Carrying", "BabyAI-PutNextS7N4Carrying-v0", 392),
    ("Unlock", "BabyAI-Unlock-v0", 576),
    ("UnlockLocal", "BabyAI-UnlockLocal-v0", 576),
    ("UnlockLocalDist", "BabyAI-UnlockLocalDist-v0", 576),
    ("KeyInBox", "BabyAI-KeyInBox-v0", 576),
    ("UnlockPickup", "BabyAI-UnlockPickup-v0", 72),
    ("UnlockPickupDist", "BabyAI-UnlockPickupDist-v0", 72),
    ("BlockedUnlockPickup", "BabyAI-BlockedUnlockPickup-v0", 576),
    ("UnlockToUnlock", "BabyAI-UnlockToUnlock-v0", 1080),
    ("ActionObjDoor", "BabyAI-ActionObjDoor-v0", 441),
    ("FindObjS5", "BabyAI-FindObjS5-v0", 500),
    ("FindObjS6", "BabyAI-FindObjS6-v0", 720),
    ("FindObjS7", "BabyAI-FindObjS7-v0", 980),
    ("KeyCorridor", "BabyAI-KeyCorridor-v0", 1080),
    ("KeyCorridorS3R1", "BabyAI-KeyCorridorS3R1-v0", 270),
    ("KeyCorridorS3R2", "BabyAI-KeyCorridorS3R2-v0", 270),
    ("KeyCorridorS3R3", "BabyAI-KeyCorridorS3R3-v0", 270),
    ("KeyCorridorS4R3", "BabyAI-KeyCorridorS4R3-v0", 480),
    ("KeyCorridorS5R3", "BabyAI-KeyCorridorS5R3-v0", 750),
    ("KeyCorridorS6R3", "BabyAI-KeyCorridorS6R3-v0", 1080),
    ("OneRoomS8", "BabyAI-OneRoomS8-v0", 64),
    ("OneRoomS12", "BabyAI-OneRoomS12-v0", 144),
    ("OneRoomS16", "BabyAI-OneRoomS16-v0", 256),
    ("OneRoomS20", "BabyAI-OneRoomS20-v0", 400),
    ("MoveTwoAcrossS5N2", "BabyAI-MoveTwoAcrossS5N2-v0", 400),
    ("MoveTwoAcrossS8N9", "BabyAI-MoveTwoAcrossS8N9-v0", 1024),
    ("Synth", "BabyAI-Synth-v0", 4608),
    ("SynthS5R2", "BabyAI-SynthS5R2-v0", 1200),
    ("SynthLoc", "BabyAI-SynthLoc-v0", 4608),
    ("SynthSeq", "BabyAI-SynthSeq-v0", 4608),
    ("MiniBossLevel", "BabyAI-MiniBossLevel-v0", 800),
    ("BossLevel", "BabyAI-BossLevel-v0", 4608),
    ("BossLevelNoUnlock", "BabyAI-BossLevelNoUnlock-v0", 4608),
)


def render_minigrid(minigrid: Any, view: str, image_size: tuple[int, int]) -> np.ndarray:
    """Render a minigrid env top-down (``full``) or from the agent's 7x7 view (``agent``) at ``image_size``."""
    if view == "full":
        cells = max(minigrid.width, minigrid.height)
        frame = minigrid.get_full_render(highlight=False, tile_size=max(1, math.ceil(max(image_size) / cells)))
    else:
        cells = minigrid.agent_view_size
        frame = minigrid.get_pov_render(tile_size=max(1, math.ceil(max(image_size) / cells)))
    return resize(frame, image_size)


def reset_quietly(minigrid: Any, seed: int | None, options: dict[str, Any] | None = None) -> None:
    """Reset a minigrid env, hiding the "Sampling rejected" lines its level generator prints."""
    with contextlib.redirect_stdout(io.StringIO()):
        minigrid.reset(seed=seed, options=options)


def check_view(view: str) -> None:
    """Raise ``ValueError`` naming the valid views when ``view`` is not one of them."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS} ('full' is the top-down map), got {view!r}")


class BabyAIEnv(ImageObservationEnv):
    """One BabyAI level: minigrid's primitive actions, the mission as instruction, a rendered image.

    ``minigrid`` is the underlying (unwrapped) ``RoomGridLevel``: grid, agent pose, carried object, ``instrs``.
    """

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        gym_id: str,
        view: View = "full",
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        render_mode: str | None = "rgb_array",
    ) -> None:
        import gymnasium as gym
        import minigrid  # noqa: F401  (registers the BabyAI ids)

        check_view(view)
        super().__init__(embodiment, image_size, render_mode=render_mode)
        self.view = view
        self.minigrid = gym.make(gym_id).unwrapped
        self.instruction = ""

    def _observe(self) -> dict[str, Any]:
        self._last_image = render_minigrid(self.minigrid, self.view, self.image_size)
        return {"image": self._last_image, "instruction": self.instruction}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Generate a new level layout and mission (deterministic given ``seed``)."""
        super().reset(seed=seed)
        reset_quietly(self.minigrid, seed, options)
        self.instruction = clean_instruction(self.minigrid.mission)
        return self._observe(), {"success": False}

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Take one primitive action; success when the episode ends with a positive reward."""
        _, reward, terminated, truncated, info = self.minigrid.step(int(action))
        success = bool(terminated and reward > 0)
        return self._observe(), float(reward), bool(terminated), bool(truncated), {**info, "success": success}

    def close(self) -> None:
        """Close the minigrid env."""
        self.minigrid.close()


def _register(level: str, gym_id: str, max_steps: int) -> None:
    embodiment = EmbodimentSpec(
        id=f"babyai:{level}",
        domain="navigation",
        action=DiscreteActions(ACTION_NAMES),
        description=DESCRIPTION,
        simulator="MiniGrid (BabyAI)",
        camera="top-down view of the whole grid (view='agent': the agent's 7x7 egocentric view)",
        max_episode_steps=max_steps,
        extra="babyai",
        tags=("babyai",),
    )

    @register(embodiment, requires=("minigrid",))
    def make_level(**kwargs: Any) -> BabyAIEnv:
        return BabyAIEnv(embodiment, gym_id, **kwargs)


for _level, _gym_id, _max_steps in LEVELS:
    _register(_level, _gym_id, _max_steps)
