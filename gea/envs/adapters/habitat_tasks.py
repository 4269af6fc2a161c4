"""Habitat 2.0 rearrangement skills (Fetch mobile manipulator) through habitat-lab's Gym API.

Ids ``habitat:Pick``, ``habitat:Place``, ``habitat:Nav``, ``habitat:Rearrange``. Each builds habitat-lab's
benchmark config with ``habitat.get_config`` and wraps ``habitat.gym.make_gym_from_config`` (a
``HabGymWrapper``: the action is one flat Box, the concatenation of habitat's action dict in key order).
Action layouts, from habitat-lab's action configs (``fetch_suction_arm_base``, ``fetch_suction_base_stop``):

- Pick / Place / Rearrange, 10-d: ``arm_action`` = 7 arm joint-position deltas (ArmRelPosAction, [-1, 1]
  scaled by ``delta_pos_limit``) + 1 suction grip (> 0 grasps), then ``base_velocity`` = 2 (forward,
  turn; clipped to [-1, 1] and scaled by ``lin_speed``/``ang_speed``).
- Nav, 3-d: ``base_velocity`` (2) then ``rearrange_stop`` (1; > 0 ends the episode).

The adapter checks the built env's action dimension against this table and fails with ``ConfigError``
if a habitat-lab version lays it out differently. The image is ``render("rgb_array")`` of the robot's
sensors; ``info["success"]`` is the task's ``success_measure``. habitat-sim is only on conda.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gea.envs.contract import DEFAULT_IMAGE_SIZE, ImageObservationEnv, clean_instruction
from gea.envs.images import resize
from gea.envs.registry import register
from gea.errors import ConfigError
from gea.spec import ContinuousActions, Domain, EmbodimentSpec

HABITAT_INSTALL_HINT = (
    "conda install habitat-sim -c conda-forge -c aihabitat (habitat-sim is not on PyPI), "
    "then pip install 'gea[habitat]'; scenes and episodes come from "
    "python -m habitat_sim.utils.datasets_download --uids rearrange_task_assets"
)

ARM_BASE_ACTIONS = ContinuousActions(10, (-1.0,) * 10, (1.0,) * 10)
"""7 arm joint deltas + 1 suction grip + 2 base velocities (forward, turn)."""

BASE_STOP_ACTIONS = ContinuousActions(3, (-1.0,) * 3, (1.0,) * 3)
"""2 base velocities (forward, turn) + 1 stop."""


@dataclass(frozen=True)
class HabitatTask:
    """One Habitat skill: its habitat-lab benchmark config, gym name, domain, actions and instruction."""

    config: str
    gym_name: str
    domain: Domain
    action: ContinuousActions
    instruction: str
    max_episode_steps: int


HABITAT_TASKS: dict[str, HabitatTask] = {
    "Pick": HabitatTask(
        "benchmark/rearrange/pick.yaml", "HabitatPick-v0", "manipulation", ARM_BASE_ACTIONS,
        "Pick up the target object.", 300,
    ),
    "Place": HabitatTask(
        "benchmark/rearrange/place.yaml", "HabitatPlace-v0", "manipulation", ARM_BASE_ACTIONS,
        "Place the held object at the goal.", 300,
    ),
    "Nav": HabitatTask(
        "benchmark/rearrange/nav_to_obj.yaml", "HabitatNavToObj-v0", "navigation", BASE_STOP_ACTIONS,
        "Navigate to the target object and stop.", 400,
    ),
    "Rearrange": HabitatTask(
        "benchmark/rearrange/rearrange_easy.yaml", "HabitatRearrangeEasy-v0", "manipulation", ARM_BASE_ACTIONS,
        "Move the object to its goal position.", 1500,
    ),
}  # fmt: skip
"""Registered Habitat skills; ``gym_name`` is the id habitat-lab registers for the same config."""


class HabitatEnv(ImageObservationEnv):
    """A habitat-lab Gym env under the contract; ``gym_env`` is the ``HabGymWrapper`` (privileged access)."""

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        task: HabitatTask,
        image_size: int | tuple[int, int] = DEFAULT_IMAGE_SIZE,
        render_mode: str | None = "rgb_array",
        config_path: str | None = None,
        overrides: tuple[str, ...] = (),
    ) -> None:
        import habitat
        import habitat.gym

        super().__init__(embodiment, image_size, None, render_mode)
        config = habitat.get_config(config_path or task.config, overrides=list(overrides))
        self.success_measure = str(config.habitat.task.success_measure)
        self.gym_env = habitat.gym.make_gym_from_config(config)
        self.instruction = clean_instruction(task.instruction)
        actual = self.gym_env.action_space
        if getattr(actual, "shape", None) != (task.action.dim,):
            raise ConfigError(
                f"{embodiment.id}: this habitat-lab version's action space is {actual}, the spec declares "
                f"{task.action.dim} dims; pass config_path/overrides that match, or update HABITAT_TASKS"
            )

    def _observe(self) -> dict[str, Any]:
        frame = np.asarray(self.gym_env.render(mode="rgb_array"), dtype=np.uint8)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=2)
        self._last_image = resize(frame[..., :3], self.image_size)
        return {"image": self._last_image, "instruction": self.instruction}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start the next habitat episode; ``seed`` seeds habitat's episode iterator and simulator."""
        super().reset(seed=seed)
        if seed is not None:
            self.gym_env.seed(seed)
        self.gym_env.reset()
        return self._observe(), {"success": False}

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Apply the flat continuous action; success is the task's success measure."""
        result = self.gym_env.step(np.asarray(action, dtype=np.float32))
        if len(result) == 5:
            _, reward, terminated, truncated, info = result
        else:
            _, reward, terminated, info = result
            truncated = False
        success = bool(info.get(self.success_measure, False))
        return self._observe(), float(reward), bool(terminated), bool(truncated), {**info, "success": success}

    def close(self) -> None:
        """Close the simulator."""
        self.gym_env.close()


def _spec(name: str, task: HabitatTask) -> EmbodimentSpec:
    return EmbodimentSpec(
        id=f"habitat:{name}",
        domain=task.domain,
        action=task.action,
        description="a Fetch mobile manipulator with a 7-joint arm, suction gripper and wheeled base, in a house",
        simulator=f"Habitat 2.0 (habitat-lab {task.gym_name})",
        camera="robot head camera",
        max_episode_steps=task.max_episode_steps,
        extra="habitat",
        tags=("habitat",),
        install_hint=HABITAT_INSTALL_HINT,
    )


def _factory(embodiment: EmbodimentSpec, task: HabitatTask) -> Any:
    def build(**kwargs: Any) -> HabitatEnv:
        return HabitatEnv(embodiment, task, **kwargs)

    return build


for _name, _task in HABITAT_TASKS.items():
    _embodiment = _spec(_name, _task)
    register(_embodiment, requires=("habitat_sim", "habitat"))(_factory(_embodiment, _task))
