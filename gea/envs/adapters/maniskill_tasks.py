"""ManiSkill 3 adapter: Franka Panda tabletop tasks on SAPIEN as ``maniskill:<Task>`` (e.g. ``maniskill:PickCube``).

GEA's five ManiSkill tasks (tag ``gea5``: PushCube, PickCube, StackCube, PegInsertionSide, PlugCharger) and the
other Panda tasks that ManiSkill ships a motion-planning solution for and that need no downloaded assets.

Actions follow GEA's joint-velocity control: ManiSkill's ``pd_joint_vel`` controller, 8 floats in [-1, 1] at the
task's 20 Hz control rate: 7 arm joint velocity targets in rad/s, then the gripper target (-1 closed, 1 open; a
position target of the fingers). The image is the task's fixed third-person camera (``base_camera``) rendered
directly at the requested size; goal markers that ManiSkill hides from its own sensor images (PickCube's green
target) stay visible, so the image and the instruction define the task. ``proprio=True`` adds ManiSkill's flattened
``state`` observation (robot joint positions and velocities plus the task's object and goal poses).
``info["success"]`` is ManiSkill's success flag; like ManiSkill, an episode terminates when it succeeds (or fails).
Time limits are longer than ManiSkill's defaults (50 steps for most tasks) so that the motion-planner demonstrations
fit in them.

The simulator runs on the CPU (``sim_backend="cpu"``) and renders through Vulkan, by default with Mesa's software
driver (``render_backend="sapien_cpu"``; see ``gea.envs.vulkan``). Rendering in software costs about 20 ms of CPU
per 64 px frame, and each process pays about 5 s of CPU once for the renderer's first picture.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction, observation_space
from gea.envs.registry import register
from gea.envs.vulkan import configure_vulkan, is_vulkan_failure, vulkan_error
from gea.spec import ContinuousActions, EmbodimentSpec

CONTROL_MODE = "pd_joint_vel"
CAMERA = "base_camera"
GEA_TAG = "gea5"
REWARD_MODES = ("normalized_dense", "dense", "sparse")
SOFTWARE_RENDER_BACKENDS = ("sapien_cpu", "cpu")

ACTIONS = ContinuousActions(8, (-1.0,) * 8, (1.0,) * 8)
"""7 arm joint velocity targets (rad/s) + 1 gripper target (-1 closed, 1 open)."""

DESCRIPTION = (
    "a Franka Panda arm with a two-finger gripper at a table, seen by a fixed camera, controlled at 20 Hz by "
    "7 joint velocity targets in rad/s and a gripper target (-1 closes, 1 opens)"
)


@dataclass(frozen=True)
class ManiSkillTask:
    """One ManiSkill task: its ManiSkill id, instruction and time limit (steps at 20 Hz)."""

    maniskill_id: str
    instruction: str
    max_episode_steps: int
    tags: tuple[str, ...] = ()


TASKS: dict[str, ManiSkillTask] = {
    "PushCube": ManiSkillTask("PushCube-v1", "push the blue cube onto the red and white target", 100, (GEA_TAG,)),
    "PickCube": ManiSkillTask("PickCube-v1", "pick up the red cube and move it to the green target", 100, (GEA_TAG,)),
    "StackCube": ManiSkillTask("StackCube-v1", "stack the red cube on top of the green cube", 150, (GEA_TAG,)),
    "PegInsertionSide": ManiSkillTask(
        "PegInsertionSide-v1", "pick up the peg and insert its orange end sideways into the hole in the box", 250,
        (GEA_TAG,),
    ),
    "PlugCharger": ManiSkillTask(
        "PlugCharger-v1", "pick up the charger and plug it into the receptacle on the wall", 250, (GEA_TAG,)
    ),
    "PullCube": ManiSkillTask("PullCube-v1", "pull the blue cube back onto the red and white target", 100),
    "LiftPegUpright": ManiSkillTask("LiftPegUpright-v1", "lift the peg lying on the table and stand it upright", 250),
    "PlaceSphere": ManiSkillTask("PlaceSphere-v1", "pick up the blue ball and place it into the bin", 200),
    "PullCubeTool": ManiSkillTask(
        "PullCubeTool-v1", "grab the red L-shaped tool and use it to pull the blue cube towards the robot", 350
    ),
    "StackPyramid": ManiSkillTask(
        "StackPyramid-v1",
        "stack the three cubes into a pyramid: the red cube next to the green one, the blue cube on top of both",
        300,
    ),
}  # fmt: skip
"""Registered tasks, by the name after ``maniskill:``; limits cover the motion planner's demonstrations."""


def env_id(task: str) -> str:
    """The platform id of a task name, e.g. ``PickCube`` -> ``maniskill:PickCube``."""
    return f"maniskill:{task}"


def task_name(env_id: str) -> str:
    """The task name of a platform id, e.g. ``maniskill:PickCube`` -> ``PickCube``."""
    return env_id.removeprefix("maniskill:")


def import_maniskill() -> None:
    """Import ManiSkill (registering its tasks) without SAPIEN's warning that it uses its own Vulkan loader."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to find system libvulkan")
        import mani_skill.envs  # noqa: F401


class ManiSkillEnv(ImageObservationEnv):
    """One ManiSkill task under the platform contract.

    Observation: ``image`` from ``base_camera``, ``instruction``, and with ``proprio=True`` ManiSkill's flattened
    state as ``proprio``. ``render_mode=None`` renders nothing (the image stays black): with ``proprio=True`` that
    is the state-only setting. ``reward_mode``: ManiSkill's ``normalized_dense``, ``dense`` or ``sparse``; by
    default the task's own (normalized dense where the task has one).
    ``render_backend``: ``sapien_cpu`` (software Vulkan, the default) or a GPU one such as ``gpu``.

    Privileged access for experts: ``sim``, the ManiSkill environment (``agent``, task objects, ``control_timestep``).
    """

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        task: ManiSkillTask,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        proprio: bool = False,
        render_mode: str | None = "rgb_array",
        reward_mode: str | None = None,
        render_backend: str = "sapien_cpu",
    ) -> None:
        if reward_mode not in (None, *REWARD_MODES):
            raise ValueError(f"reward_mode must be None (the task's own) or one of {REWARD_MODES}, got {reward_mode!r}")
        super().__init__(embodiment, image_size, None, render_mode)
        driver = configure_vulkan() if render_backend in SOFTWARE_RENDER_BACKENDS else render_backend
        import_maniskill()
        import gymnasium as gym

        height, width = self.image_size
        self.task = task
        self.proprio = proprio
        self.instruction = clean_instruction(task.instruction)
        try:
            made = gym.make(
                task.maniskill_id,
                obs_mode="state" if proprio else "none",
                control_mode=CONTROL_MODE,
                reward_mode=reward_mode,
                sim_backend="cpu",
                render_backend=render_backend,
                sensor_configs={"width": width, "height": height},
                enhanced_determinism=True,  # unseeded resets continue the seeded stream
                disable_env_checker=True,
            )
        except RuntimeError as error:
            if is_vulkan_failure(error):
                raise vulkan_error(error, driver) from error
            raise
        self.sim: Any = made.unwrapped  # ManiSkill's own TimeLimit is replaced by the contract's
        if proprio:
            self.observation_space = observation_space(self.image_size, len(self._flat_state(self.sim.get_obs())))

    @staticmethod
    def _flat_state(observation: Any) -> np.ndarray:
        return np.asarray(observation, np.float32).reshape(-1)

    def capture(self) -> np.ndarray:
        """Render the current scene from ``base_camera`` as an HxWx3 uint8 image."""
        if self.render_mode is None:
            raise ValueError(f"{self.embodiment.id} was made with render_mode=None; use render_mode='rgb_array'")
        self.sim.scene.update_render(update_sensors=True, update_human_render_cameras=False)
        camera = self.sim.scene.sensors[CAMERA]  # looked up each time: tasks such as PegInsertionSide rebuild
        camera.capture()  # their scene (and cameras) on reset
        rgb = camera.get_obs(rgb=True, depth=False, position=False, segmentation=False)["rgb"]
        return np.array(rgb[0], dtype=np.uint8)

    def _observe(self, state: Any) -> dict[str, Any]:
        if self.render_mode is not None:
            self._last_image = self.capture()
        observation: dict[str, Any] = {"image": self._last_image, "instruction": self.instruction}
        if self.proprio:
            observation["proprio"] = self._flat_state(state)
        return observation

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; ``seed`` fixes the object and goal poses of this and the following unseeded episodes."""
        super().reset(seed=seed)
        state, info = self.sim.reset(seed=seed, options=options)
        return self._observe(state), {**_plain(info), "success": bool(info.get("success", False))}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply one 8-d action; terminates on success or failure (ManiSkill's rule), never truncates by itself."""
        state, reward, terminated, _, info = self.sim.step(np.asarray(action, np.float32))
        info = {**_plain(info), "success": bool(info["success"])}
        return self._observe(state), float(reward), bool(terminated), False, info

    def close(self) -> None:
        """Free the simulator and its renderer."""
        self.sim.close()


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    """ManiSkill's info with one-element tensors as Python scalars (bools stay bools)."""
    plain: dict[str, Any] = {}
    for key, value in info.items():
        if hasattr(value, "numel") and value.numel() == 1:
            plain[key] = value.item()
        elif not hasattr(value, "numel"):
            plain[key] = value
    return plain


def _factory(embodiment: EmbodimentSpec, task: ManiSkillTask) -> Any:
    def build(**kwargs: Any) -> ManiSkillEnv:
        return ManiSkillEnv(embodiment, task, **kwargs)

    build.__doc__ = (
        f"Build the ManiSkill task {task.maniskill_id} (kwargs: image_size, proprio, render_mode, reward_mode, "
        "render_backend)."
    )
    return build


def _register_all() -> None:
    for name, task in TASKS.items():
        embodiment = EmbodimentSpec(
            id=env_id(name),
            domain="manipulation",
            action=ACTIONS,
            description=DESCRIPTION,
            simulator="ManiSkill 3 (SAPIEN)",
            camera=CAMERA,
            observation_keys=("image", "instruction"),
            max_episode_steps=task.max_episode_steps,
            extra="maniskill",
            tags=task.tags,
        )
        register(embodiment, requires=("mani_skill", "sapien"))(_factory(embodiment, task))


_register_all()
