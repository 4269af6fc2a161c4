"""ManiSkill motion-planner expert: the planning solutions that ship with ManiSkill, acting through joint velocities.

ManiSkill's solutions (``mani_skill.examples.motionplanning.panda.solutions``) plan with mplib from privileged state
(object poses, robot joints) and drive an environment themselves: ``solve(env)`` calls ``env.step`` with joint
targets until the task is done. Here a solution runs in a helper thread against a stand-in environment whose ``step``
hands the planned joint positions and velocities to ``act`` and waits. ``act`` turns them into the platform's
joint-velocity action (the planned velocity plus a proportional correction towards the planned position, so the arm
tracks the plan even when executed actions are perturbed) and returns it; the caller steps the real environment, and
the next ``act`` lets the solution go on from the state that step produced. Exactly one of the two threads runs at a
time, so the solution always reads the real simulator and the episode loop stays the caller's. After the solution
has finished, or given up, the expert holds the arm still with the gripper as the solution left it. As in ManiSkill's
own demonstration script, an exception inside a solution (e.g. ``follow_path`` of an empty plan) counts as giving up:
it is recorded in ``messages`` and the episode goes on without the plan.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from gea.agents.experts import register_expert
from gea.envs.adapters.maniskill_tasks import TASKS, import_maniskill, task_name
from gea.errors import UnknownEnvError

POSITION_GAIN = 10.0
"""Joint velocity (rad/s) added per radian between the planned and the measured joint position."""

ANSWER_TIMEOUT_S = 300.0
"""Longest wait for the solution's next joint target (planning one segment takes well under a second)."""

ARM_JOINTS = 7
OPEN_GRIPPER = 1.0

SOLUTIONS: dict[str, str] = {
    "PushCube": "solvePushCube",
    "PickCube": "solvePickCube",
    "StackCube": "solveStackCube",
    "PegInsertionSide": "solvePegInsertionSide",
    "PlugCharger": "solvePlugCharger",
    "PullCube": "solvePullCube",
    "LiftPegUpright": "solveLiftPegUpright",
    "PlaceSphere": "solvePlaceSphere",
    "PullCubeTool": "solvePullCubeTool",
    "StackPyramid": "solveStackPyramid",
}
"""Task name -> ManiSkill's solution function in ``mani_skill.examples.motionplanning.panda.solutions``."""


def load_solution(task: str) -> Callable[..., Any]:
    """ManiSkill's motion-planning solution for ``task`` (a ``maniskill:`` task name)."""
    if task not in SOLUTIONS:
        raise UnknownEnvError(
            f"no ManiSkill motion-planning solution for {task!r}; tasks with one: {sorted(SOLUTIONS)}"
        )
    import_maniskill()
    from mani_skill.examples.motionplanning.panda import solutions

    return getattr(solutions, SOLUTIONS[task])  # type: ignore[no-any-return]


def joint_velocity_action(target: np.ndarray, qpos: np.ndarray, gain: float = POSITION_GAIN) -> np.ndarray:
    """The 8-d action that follows one planned step ``target`` = (7 positions, 7 velocities, gripper) from the
    measured arm joint positions ``qpos``: ``velocity + gain * (position - qpos)`` clipped to [-1, 1], then the
    gripper."""
    position, velocity, gripper = target[:ARM_JOINTS], target[ARM_JOINTS : 2 * ARM_JOINTS], target[-1]
    arm = np.clip(velocity + gain * (position - qpos), -1.0, 1.0)
    return np.append(arm, gripper).astype(np.float32)


class _EpisodeOver(Exception):
    """Raised inside a solution's ``step`` to end it when its episode ends first."""


class _PlannerView:
    """The ManiSkill environment as a solution sees it: the real one, except that its control mode reads as joint
    position *and* velocity, so the solution hands over both at every step."""

    control_mode = "pd_joint_pos_vel"

    def __init__(self, sim: Any) -> None:
        self._sim = sim

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)


class _SolutionEnv:
    """What a solution drives: ``reset`` is a no-op (the caller has reset the real environment) and ``step`` passes
    the planned target to the expert and waits for the caller's step."""

    def __init__(self, sim: Any, targets: queue.Queue[Any], results: queue.Queue[Any]) -> None:
        self._view = _PlannerView(sim)
        self._targets, self._results = targets, results

    @property
    def unwrapped(self) -> _PlannerView:
        return self._view

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[None, dict[str, Any]]:
        return None, {}

    def step(self, action: Any) -> Any:
        self._targets.put(("target", np.asarray(action, np.float64)))
        result = self._results.get()
        if result is None:
            raise _EpisodeOver
        return result


class MotionPlannerExpert:
    """Acts with ManiSkill's motion-planning solution for one task, reading ``env.unwrapped.sim``.

    ``messages`` holds what the solution printed during the current episode (e.g. a failed plan), and the
    exception it stopped with, if any.
    """

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id
        self.solve = load_solution(task_name(env_id))
        self.messages: list[str] = []
        self._thread: threading.Thread | None = None
        self._targets: queue.Queue[Any] = queue.Queue()
        self._results: queue.Queue[Any] = queue.Queue()
        self._finished = False
        self._gripper = OPEN_GRIPPER

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """End the previous episode's solution, if it still runs; the next ``act`` starts a new one."""
        self._stop()
        self.messages = []
        self._finished = False
        self._gripper = OPEN_GRIPPER

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> np.ndarray:
        """The joint-velocity action that follows the solution's next planned step (hold still once it is done)."""
        sim = env.unwrapped.sim  # type: ignore[attr-defined]
        if not self._finished:
            if self._thread is None:
                self._start(sim)
            else:
                self._results.put((observation, 0.0, False, False, {}))
            kind, payload = self._next_message()
            if kind == "target":
                self._gripper = float(payload[-1])
                return joint_velocity_action(payload, _arm_qpos(sim))
            self._finished = True
            if kind == "gave up":
                self.messages.append(f"the solution stopped with {type(payload).__name__}: {payload}")
        return np.append(np.zeros(ARM_JOINTS), self._gripper).astype(np.float32)

    def _start(self, sim: Any) -> None:
        self._targets, self._results = queue.Queue(), queue.Queue()
        stand_in = _SolutionEnv(sim, self._targets, self._results)
        targets = self._targets

        def run() -> None:
            try:
                self.solve(stand_in, seed=None)
            except _EpisodeOver:
                return
            except Exception as error:  # the solution gave up (ManiSkill's own script counts it as a failure)
                targets.put(("gave up", error))
                return
            targets.put(("done", None))

        self._thread = threading.Thread(target=run, name=f"planner-{self.env_id}", daemon=True)
        self._thread.start()

    def _next_message(self) -> tuple[str, Any]:
        # Only the solution thread runs while this one waits, so its prints can be captured here.
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                return self._targets.get(timeout=ANSWER_TIMEOUT_S)  # type: ignore[no-any-return]
        except queue.Empty:
            raise RuntimeError(
                f"ManiSkill's motion planner for {self.env_id} gave no joint target within {ANSWER_TIMEOUT_S:.0f} s"
            ) from None
        finally:
            self.messages.extend(line for line in output.getvalue().splitlines() if line.strip())

    def _stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._results.put(None)
            self._thread.join(timeout=ANSWER_TIMEOUT_S)
        self._thread = None


def _arm_qpos(sim: Any) -> np.ndarray:
    """The measured arm joint positions of the (single) ManiSkill environment."""
    return np.asarray(sim.agent.robot.get_qpos()[0, :ARM_JOINTS].cpu().numpy(), np.float64)


@register_expert("maniskill:*")
def make_maniskill_expert(env_id: str) -> MotionPlannerExpert:
    """The motion-planner expert of a ``maniskill:<Task>`` environment."""
    if task_name(env_id) not in TASKS:
        raise UnknownEnvError(f"unknown ManiSkill task {env_id!r}; registered: {sorted(TASKS)}")
    return MotionPlannerExpert(env_id)
