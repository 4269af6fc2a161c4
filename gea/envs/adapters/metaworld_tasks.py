"""Meta-World v3 adapter: the 50 Sawyer tabletop tasks as ``metaworld:<task>-v3``.

Each task is registered from static tables below, so listing ids, reading specs and filtering by
benchmark tag (``MT10``, ``MT50``, ``ML10-train``, ``ML10-test``, ``ML45-train``, ``ML45-test``) never
imports Meta-World. The environment samples a fresh object/goal configuration on every reset from
its own seeded generator (Meta-World's ``seeded_rand_vec`` mode), with the goal kept in the 39-d
state (the multi-task setting), so ``reset(seed=s)`` is reproducible and different seeds give
different start states.

Images come from one MuJoCo renderer per environment, drawn once per step at the requested size with
shadows, reflections and multisampling off (software-rendering speed). Cameras whose "up" axis points
below the horizon (all four ``corner*`` cameras) are rotated by 180 degrees so every image is upright;
a rotation, not a mirror, so left and right stay true to the scene.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import numpy as np

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction
from gea.envs.registry import register
from gea.spec import ContinuousActions, EmbodimentSpec

STATE_DIM = 39
DEFAULT_CAMERA = "corner3"
CAMERAS: tuple[str, ...] = ("corner3", "corner", "corner2", "corner4", "topview", "behindGripper", "gripperPOV")
MAX_EPISODE_STEPS = 500  # Meta-World's max_path_length

DESCRIPTION = (
    "a Sawyer robot arm with a two-finger gripper at a table, controlled by end-effector position "
    "deltas (x, y, z) and a gripper effort (positive closes)"
)

INSTRUCTIONS: dict[str, str] = {
    "assembly-v3": "pick up the nut and place it onto the peg",
    "basketball-v3": "dunk the basketball into the basket",
    "bin-picking-v3": "pick up the puck from one bin and place it into the other bin",
    "box-close-v3": "pick up the lid and close the box with it",
    "button-press-topdown-v3": "press the button from the top",
    "button-press-topdown-wall-v3": "reach past the wall and press the button from the top",
    "button-press-v3": "press the button",
    "button-press-wall-v3": "reach past the wall and press the button",
    "coffee-button-v3": "press the button on the coffee machine",
    "coffee-pull-v3": "pull the mug away from the coffee machine",
    "coffee-push-v3": "push the mug under the coffee machine",
    "dial-turn-v3": "turn the dial half a turn",
    "disassemble-v3": "pick the nut up off the peg",
    "door-close-v3": "close the door",
    "door-lock-v3": "lock the door by turning the lock",
    "door-open-v3": "open the door",
    "door-unlock-v3": "unlock the door by turning the lock",
    "hand-insert-v3": "insert the gripper into the hole",
    "drawer-close-v3": "close the drawer",
    "drawer-open-v3": "open the drawer",
    "faucet-open-v3": "turn the faucet handle to open the faucet",
    "faucet-close-v3": "turn the faucet handle to close the faucet",
    "hammer-v3": "pick up the hammer and hammer the nail into the wall",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up",
    "pick-place-wall-v3": "pick up the puck, lift it over the wall and place it at the goal",
    "pick-out-of-hole-v3": "pick the puck up out of the hole",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "plate-slide-v3": "slide the plate into the goal",
    "plate-slide-side-v3": "slide the plate sideways into the goal",
    "plate-slide-back-v3": "slide the plate back out of the goal",
    "plate-slide-back-side-v3": "slide the plate sideways back out of the goal",
    "peg-insert-side-v3": "pick up the peg and insert it sideways into the hole",
    "peg-unplug-side-v3": "unplug the peg sideways",
    "soccer-v3": "push the soccer ball into the goal",
    "stick-push-v3": "pick up the stick and push the box with it",
    "stick-pull-v3": "pick up the stick and pull the box with it",
    "push-v3": "push the puck to the goal",
    "push-wall-v3": "push the puck around the wall to the goal",
    "push-back-v3": "pull the puck back to the goal",
    "reach-v3": "move the gripper to the goal",
    "reach-wall-v3": "move the gripper over the wall to the goal",
    "shelf-place-v3": "pick up the puck and place it on the shelf",
    "sweep-into-v3": "sweep the puck into the hole",
    "sweep-v3": "sweep the puck off the table",
    "window-open-v3": "slide the window open",
    "window-close-v3": "slide the window closed",
}

# Benchmark task sets, as defined in metaworld.env_dict (3.1.1); tests/envs/test_metaworld.py checks them.
MT10: tuple[str, ...] = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
)
MT50: tuple[str, ...] = tuple(INSTRUCTIONS)
ML10_TRAIN: tuple[str, ...] = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "sweep-v3",
    "basketball-v3",
)
ML10_TEST: tuple[str, ...] = ("drawer-open-v3", "door-close-v3", "shelf-place-v3", "sweep-into-v3", "lever-pull-v3")
ML45_TEST: tuple[str, ...] = ("bin-picking-v3", "box-close-v3", "hand-insert-v3", "door-lock-v3", "door-unlock-v3")
ML45_TRAIN: tuple[str, ...] = tuple(task for task in MT50 if task not in ML45_TEST)

TASK_SETS: dict[str, tuple[str, ...]] = {
    "MT10": MT10,
    "MT50": MT50,
    "ML10-train": ML10_TRAIN,
    "ML10-test": ML10_TEST,
    "ML45-train": ML45_TRAIN,
    "ML45-test": ML45_TEST,
}


def env_id(task: str) -> str:
    """The platform id of a Meta-World task name, e.g. ``reach-v3`` -> ``metaworld:reach-v3``."""
    return f"metaworld:{task}"


def task_name(env_id: str) -> str:
    """The Meta-World task name of a platform id, e.g. ``metaworld:reach-v3`` -> ``reach-v3``."""
    return env_id.removeprefix("metaworld:")


def task_tags(task: str) -> tuple[str, ...]:
    """The benchmark task sets ``task`` belongs to."""
    return tuple(tag for tag, tasks in TASK_SETS.items() if task in tasks)


class MetaWorldEnv(ImageObservationEnv):
    """One Meta-World v3 task under the platform contract.

    Observation: ``image`` from ``camera`` (upright), ``instruction``, and with ``proprio=True`` the
    39-d Meta-World state as ``proprio``. ``render_mode=None`` renders nothing (the image stays black): with
    ``proprio=True`` that is the state-only setting. ``goal_size`` draws the goal marker of the 32 tasks that have one
    (reach, push, pick-place, ...; a sphere without physics) with that radius in metres instead of
    Meta-World's 2 cm, which covers no pixel at 32 px. Action: 4 floats in [-1, 1] (end-effector xyz delta,
    gripper effort). ``info["success"]`` is Meta-World's success flag.

    Privileged access for experts: ``state`` (the latest 39-d state, goal included) and ``sim``
    (the underlying ``metaworld`` environment, with ``model``/``data``).
    """

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        task: str,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        camera: str = DEFAULT_CAMERA,
        proprio: bool = False,
        render_mode: str | None = "rgb_array",
        goal_size: float | None = None,
    ) -> None:
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
        super().__init__(embodiment, image_size, STATE_DIM if proprio else None, render_mode)
        if platform.system() == "Linux":
            os.environ.setdefault("MUJOCO_GL", "egl")  # headless by default; must precede the mujoco import
        import mujoco
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        height, width = self.image_size
        self.task = task
        self.camera = camera
        self.proprio = proprio
        self.instruction = clean_instruction(INSTRUCTIONS[task])
        self.sim: Any = ALL_V3_ENVIRONMENTS[task](width=width, height=height)
        # Multi-task setting: the goal is part of the state, a new configuration is drawn from the
        # env's own seeded generator on every reset, and the time limit is applied by gea.envs.make's ContractWrapper.
        self.sim._partially_observable = False
        del self.sim.sawyer_observation_space  # cached while the goal was hidden; recompute with the goal
        self.sim.observation_space = self.sim.sawyer_observation_space
        self.sim._freeze_rand_vec = False
        self.sim.seeded_rand_vec = True
        self.sim._set_task_called = True
        self.sim.max_path_length = sys.maxsize
        self._state = np.zeros(STATE_DIM, np.float64)

        model = self.sim.model
        model.vis.quality.shadowsize = 0
        model.vis.quality.offsamples = 0
        if goal_size is not None:
            if goal_size <= 0:
                raise ValueError(f"goal_size must be a positive radius in metres, got {goal_size}")
            goal = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "goal")
            if goal < 0:
                raise ValueError(f"{task} has no goal marker; goal_size applies to tasks with a 'goal' site")
            model.site_size[goal] = goal_size
        self._renderer: Any = None
        if render_mode is not None:
            self._renderer = mujoco.Renderer(model, height, width)
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self._camera_id = model.camera(camera).id
        self._rotate = bool(self.sim.data.cam_xmat[self._camera_id][7] < 0)  # world z of the camera's up axis

    @property
    def state(self) -> np.ndarray:
        """The latest 39-d Meta-World state: hand, gripper, objects, previous frame, goal."""
        return self._state

    def capture(self) -> np.ndarray:
        """Render the simulator's current state from ``camera``, upright, as an HxWx3 uint8 image."""
        if self._renderer is None:
            raise ValueError(f"{self.task} was made with render_mode=None; make it with render_mode='rgb_array'")
        self._renderer.update_scene(self.sim.data, camera=self._camera_id)
        image = self._renderer.render()
        return np.ascontiguousarray(image[::-1, ::-1]) if self._rotate else image

    def _observe(self, state: np.ndarray) -> dict[str, Any]:
        self._state = state
        if self._renderer is not None:
            self._last_image = self.capture()
        observation: dict[str, Any] = {"image": self._last_image, "instruction": self.instruction}
        if self.proprio:
            observation["proprio"] = state.astype(np.float32)
        return observation

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; ``seed`` fixes the object and goal positions drawn for it and later episodes."""
        super().reset(seed=seed)
        if seed is not None:
            self.sim.seed(seed)
        state, info = self.sim.reset()
        return self._observe(state), {**info, "success": False}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply one 4-d action; never terminates or truncates by itself (gea.envs.make's ContractWrapper does)."""
        state, reward, _, _, info = self.sim.step(np.asarray(action, np.float32))
        return self._observe(state), float(reward), False, False, {**info, "success": bool(info["success"])}

    def close(self) -> None:
        """Free the renderer and the simulator."""
        if self._renderer is not None:
            self._renderer.close()
        self.sim.close()


def _factory(embodiment: EmbodimentSpec, task: str) -> Any:
    def build(**kwargs: Any) -> MetaWorldEnv:
        return MetaWorldEnv(embodiment, task, **kwargs)

    build.__doc__ = f"Build the Meta-World task {task} (kwargs: image_size, camera, proprio, render_mode, goal_size)."
    return build


def _register_all() -> None:
    for task in INSTRUCTIONS:
        embodiment = EmbodimentSpec(
            id=env_id(task),
            domain="manipulation",
            action=ContinuousActions(4, (-1.0,) * 4, (1.0,) * 4),
            description=DESCRIPTION,
            simulator="Meta-World v3 (MuJoCo)",
            camera=DEFAULT_CAMERA,
            observation_keys=("image", "instruction"),
            max_episode_steps=MAX_EPISODE_STEPS,
            extra="metaworld",
            tags=task_tags(task),
        )
        register(embodiment, requires=("metaworld", "mujoco"))(_factory(embodiment, task))


_register_all()
