"""MiniWorld 3-D navigation tasks as ``miniworld:<Name>``: an egocentric camera and actions in words.

MiniWorld renders with OpenGL; the adapter sets ``pyglet.options["headless"] = True`` (EGL) before it first
imports ``miniworld``. The simulator is exposed as ``env.unwrapped.sim`` (agent, entities, walls) for experts.
In ``Sign`` the sign's colour and the goal shape are drawn anew every episode from the reset seed.
MiniWorld's ThreeRooms, RoomObjects (no goal) and CollectHealth (a survival game) define no success and are
not registered.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, as_image_size, clean_instruction
from gea.envs.registry import register
from gea.spec import DiscreteActions, EmbodimentSpec

# MiniWorld's action order; each task uses the first ``n`` of them (Sign's 4th action ends the episode).
MINIWORLD_ACTIONS: tuple[str, ...] = (
    "turn left",
    "turn right",
    "move forward",
    "move back",
    "pick up",
    "drop",
    "toggle",
    "done",
)
SIGN_ACTIONS: tuple[str, ...] = ("turn left", "turn right", "move forward", "done")

DESCRIPTION = (
    "a wheeled robot in a 3-D MiniWorld scene of rooms and corridors, seen through its front camera; it turns "
    "in place and moves forward or back"
)


@dataclass(frozen=True)
class MiniWorldTask:
    """One registered MiniWorld task: its gym id, actions, step limit and what the instruction asks."""

    name: str
    gym_id: str
    actions: tuple[str, ...]
    max_steps: int
    goal: str  # "box": reach ``sim.box``; "sign", "pickup" or "putnext"


def _go(name: str, max_steps: int) -> MiniWorldTask:
    return MiniWorldTask(name, f"MiniWorld-{name}-v0", MINIWORLD_ACTIONS[:3], max_steps, "box")


TASKS: tuple[MiniWorldTask, ...] = (
    _go("Hallway", 250),
    _go("OneRoom", 180),
    _go("OneRoomS6", 100),
    _go("OneRoomS6Fast", 50),
    _go("FourRooms", 250),
    _go("WallGap", 300),
    _go("Maze", 1536),
    _go("MazeS2", 96),
    _go("MazeS3", 216),
    _go("MazeS3Fast", 300),
    _go("TMaze", 280),
    _go("TMazeLeft", 280),
    _go("TMazeRight", 280),
    _go("YMaze", 280),
    _go("YMazeLeft", 280),
    _go("YMazeRight", 280),
    _go("Sidewalk", 150),
    MiniWorldTask("Sign", "MiniWorld-Sign-v0", SIGN_ACTIONS, 20, "sign"),
    MiniWorldTask("PickupObjects", "MiniWorld-PickupObjects-v0", MINIWORLD_ACTIONS[:5], 400, "pickup"),
    MiniWorldTask("PutNext", "MiniWorld-PutNext-v0", MINIWORLD_ACTIONS, 250, "putnext"),
)
SIGN_COLORS: tuple[str, ...] = ("blue", "green", "red")  # Sign's color_index order
SIGN_SHAPES: tuple[str, ...] = ("box", "key")  # Sign's goal order


def import_miniworld() -> Any:
    """Import ``miniworld`` for headless (EGL) rendering."""
    import pyglet

    pyglet.options["headless"] = True
    import miniworld

    return miniworld


class MiniWorldEnv(ImageObservationEnv):
    """One MiniWorld task; ``sim`` is the unwrapped ``miniworld.MiniWorldEnv`` (agent, entities, ``box``)."""

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        task: MiniWorldTask,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        domain_rand: bool = False,
        render_mode: str | None = "rgb_array",
    ) -> None:
        import gymnasium as gym

        import_miniworld()
        super().__init__(embodiment, image_size, render_mode=render_mode)
        height, width = as_image_size(image_size)
        self.task = task
        kwargs: dict[str, Any] = {"obs_width": width, "obs_height": height}
        if task.goal != "sign":  # Sign fixes its own physics and turns domain randomization off
            kwargs["domain_rand"] = domain_rand
        with contextlib.redirect_stdout(io.StringIO()):  # "Falling back to num_samples=4" on software GL
            self.sim = gym.make(task.gym_id, **kwargs).unwrapped
        self.instruction = ""

    def _instruction(self) -> str:
        if self.task.goal == "box":
            return f"go to the {self.sim.box.color} box"
        if self.task.goal == "sign":
            shape = SIGN_SHAPES[self.sim._goal]
            return f"read the colour written on the sign, then go to the {shape} of that colour"
        if self.task.goal == "pickup":
            return "pick up all the objects in the room"
        return f"put the {self.sim.red_box.color} box next to the {self.sim.yellow_box.color} box"

    def _observe(self, frame: Any) -> dict[str, Any]:
        image = frame["obs"] if isinstance(frame, dict) else frame
        self._last_image = np.ascontiguousarray(image, dtype=np.uint8)
        return {"image": self._last_image, "instruction": self.instruction}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Generate a new scene (deterministic given ``seed``)."""
        super().reset(seed=seed)
        if self.task.goal == "sign":
            self.sim.set_color_index(int(self.np_random.integers(len(SIGN_COLORS))))
            self.sim._goal = int(self.np_random.integers(len(SIGN_SHAPES)))
        frame, _ = self.sim.reset(seed=seed, options=options)
        self.instruction = clean_instruction(self._instruction())
        return self._observe(frame), {"success": False}

    def step(self, action: int) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Take one action; success when the task's goal is reached (a positive reward on termination)."""
        frame, reward, terminated, truncated, info = self.sim.step(int(action))
        success = bool(terminated and reward > 0)
        return self._observe(frame), float(reward), bool(terminated), bool(truncated), {**info, "success": success}

    def close(self) -> None:
        """Close the simulator."""
        self.sim.close()


def _register(task: MiniWorldTask) -> None:
    embodiment = EmbodimentSpec(
        id=f"miniworld:{task.name}",
        domain="navigation",
        action=DiscreteActions(task.actions),
        description=DESCRIPTION,
        simulator="MiniWorld (OpenGL)",
        camera="egocentric front camera",
        max_episode_steps=task.max_steps,
        extra="nav3d",
        tags=("miniworld",),
    )

    @register(embodiment, requires=("miniworld",))
    def make_task(**kwargs: Any) -> MiniWorldEnv:
        return MiniWorldEnv(embodiment, task, **kwargs)


for _task in TASKS:
    _register(_task)
