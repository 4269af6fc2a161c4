"""ManiSkill adapter and motion-planner expert on the real simulator (SAPIEN, CPU physics, software Vulkan)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.agents.experts import has_expert, make_expert
from gea.envs.adapters import maniskill_tasks
from gea.errors import InvalidActionError
from gea.rollouts.episodes import run_episode

needs_maniskill = pytest.mark.skipif(
    importlib.util.find_spec("mani_skill") is None, reason="ManiSkill is not installed: pip install 'gea[maniskill]'"
)
GEA_TASKS = ["PushCube", "PickCube", "StackCube", "PegInsertionSide", "PlugCharger"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pick_env() -> Iterator[gym.Env[Any, Any]]:
    """One PickCube env with 32 px images and proprio, shared by the tests that reset and step it (the renderer's
    first picture costs seconds of CPU once per process)."""
    env = gea.envs.make("maniskill:PickCube", image_size=32, proprio=True)
    yield env
    env.close()


def test_gea_tasks_are_registered_with_their_spec() -> None:
    assert gea.envs.list_envs(tag="gea5") == sorted(f"maniskill:{task}" for task in GEA_TASKS)
    ids = gea.envs.list_envs(contains="maniskill:")
    assert len(ids) == len(maniskill_tasks.TASKS) >= 10
    for env_id in ids:
        spec = gea.envs.spec(env_id)
        assert spec.domain == "manipulation" and spec.extra == "maniskill" and spec.camera == "base_camera"
        assert spec.action == gea.envs.ContinuousActions(8, (-1.0,) * 8, (1.0,) * 8)
        assert "joint velocity" in spec.description
        task = maniskill_tasks.TASKS[maniskill_tasks.task_name(env_id)]
        assert spec.max_episode_steps == task.max_episode_steps >= 100 and task.instruction.strip()
        assert has_expert(env_id)


@needs_maniskill
def test_adapter_follows_contract(pick_env: gym.Env[Any, Any]) -> None:
    env = pick_env
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=5)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8 and obs["image"].any()
    assert obs["instruction"] == maniskill_tasks.TASKS["PickCube"].instruction
    assert obs["proprio"].dtype == np.float32 and env.observation_space["proprio"].shape == obs["proprio"].shape
    assert info["success"] is False
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert isinstance(info["success"], bool) and isinstance(reward, float)
        assert not terminated and not truncated
    np.testing.assert_array_equal(env.render(), obs["image"])
    assert env.max_episode_steps == 100


@needs_maniskill
def test_same_seed_same_episode_and_different_seeds_differ(pick_env: gym.Env[Any, Any]) -> None:
    env = pick_env
    actions = np.random.default_rng(0).uniform(-1, 1, (5, 8)).astype(np.float32)

    def rollout(seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
        obs, _ = env.reset(seed=seed)
        images, states, rewards = [obs["image"]], [obs["proprio"]], []
        for action in actions:
            obs, reward, *_ = env.step(action)
            images.append(obs["image"])
            states.append(obs["proprio"])
            rewards.append(reward)
        return images, states, rewards

    first, again, other = rollout(11), rollout(11), rollout(12)
    for a, b in zip(first[0] + first[1], again[0] + again[1]):
        np.testing.assert_array_equal(a, b)
    assert first[2] == again[2]
    assert not np.array_equal(first[0][0], other[0][0]) and not np.allclose(first[1][0], other[1][0])
    env.reset(seed=11)
    start = env.reset()[0]["proprio"]  # an unseeded reset continues the seeded stream: the same next episode
    env.reset(seed=11)
    np.testing.assert_array_equal(env.reset()[0]["proprio"], start)


@needs_maniskill
def test_wrong_actions_raise_invalid_action_error(pick_env: gym.Env[Any, Any]) -> None:
    pick_env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(8,\)"):
        pick_env.step(np.zeros(7))
    with pytest.raises(InvalidActionError, match="NaN"):
        pick_env.step(np.array([0.0] * 7 + [np.nan]))


@needs_maniskill
@pytest.mark.parametrize("task", GEA_TASKS)
def test_motion_planner_expert_beats_random(task: str) -> None:
    """State-only (``render_mode=None``): the expert reads privileged state, so images change nothing here."""
    env_id = f"maniskill:{task}"
    env = gea.envs.make(env_id, render_mode=None, proprio=True)
    expert, seeds = make_expert(env_id), range(4)
    random_agent = _RandomAgent(env)
    try:
        expert_results = [run_episode(env, expert, seed, env_id) for seed in seeds]
        random_results = [run_episode(env, random_agent, seed, env_id) for seed in seeds]
    finally:
        env.close()
    expert_successes = sum(result.success for result in expert_results)
    random_successes = sum(result.success for result in random_results)
    assert expert_successes > random_successes, (task, expert_successes, random_successes)
    if task in ("PushCube", "PickCube", "StackCube"):
        assert expert_successes == len(seeds)


@needs_maniskill
def test_expert_ends_a_cut_episode_and_plans_the_next_from_its_start(pick_env: gym.Env[Any, Any]) -> None:
    env, expert = pick_env, make_expert("maniskill:PickCube")
    earlier = set(threading.enumerate())  # planners of experts other tests left waiting are not this one's
    for _ in range(2):  # the first episode is cut after 5 steps while the solution is still running
        obs, _ = env.reset(seed=3)
        expert.reset(env)
        for _ in range(5):
            obs, *_ = env.step(expert.act(env, obs))
    assert run_episode(env, expert, 3, "maniskill:PickCube").success
    expert.reset(env)  # the solution still waits for a step after the success: reset ends its thread
    assert not [thread for thread in set(threading.enumerate()) - earlier if thread.name.startswith("planner-")]


@needs_maniskill
def test_a_solution_that_gives_up_leaves_the_arm_still_and_says_why() -> None:
    """ManiSkill's solutions can raise (e.g. following an empty plan); like ManiSkill's own script, that is a failed
    episode, not a crash of the collection."""

    def one_step_then_raise(env: Any, seed: int | None = None) -> None:
        qpos = env.unwrapped.agent.robot.get_qpos()[0, :7].cpu().numpy()
        env.step(np.concatenate([qpos + 0.05, np.zeros(7), [-1.0]]))
        raise RuntimeError("no plan")

    env = gea.envs.make("maniskill:PushCube", render_mode=None)
    expert = make_expert("maniskill:PushCube")
    expert.solve = one_step_then_raise  # type: ignore[attr-defined]
    try:
        obs, _ = env.reset(seed=0)
        expert.reset(env)
        first = expert.act(env, obs)
        np.testing.assert_allclose(first, [0.5] * 7 + [-1.0], atol=1e-5)  # 10/s x 0.05 rad towards the target
        obs, *_ = env.step(first)
        np.testing.assert_array_equal(expert.act(env, obs), [0.0] * 7 + [-1.0])
        assert expert.messages == ["the solution stopped with RuntimeError: no plan"]  # type: ignore[attr-defined]
    finally:
        env.close()


@needs_maniskill
def test_missing_vulkan_driver_names_the_fix(tmp_path: Path) -> None:
    """A driver manifest that points nowhere: SAPIEN cannot start Vulkan, and the error says how to install one."""
    manifest = tmp_path / "broken_icd.json"
    manifest.write_text('{"file_format_version": "1.0.0", "ICD": {"library_path": "/nonexistent/libvulkan_x.so"}}')
    code = (
        "import gea.envs\n"
        "from gea.errors import MissingDependencyError\n"
        "try:\n"
        "    gea.envs.make('maniskill:PushCube', image_size=16)\n"
        "except MissingDependencyError as error:\n"
        "    print('ERROR:', error)\n"
    )
    environment = {**os.environ, "VK_ICD_FILENAMES": str(manifest), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=300)
    assert "ERROR: SAPIEN could not start Vulkan" in done.stdout, done.stdout + done.stderr
    assert "scripts/install_lavapipe.sh" in done.stdout


class _RandomAgent:
    """Uniform random actions from the env's own (seeded) action space."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        env.action_space.seed(0)
        self.space = env.action_space

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Nothing to prepare."""

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> np.ndarray:
        """A uniform random action."""
        return self.space.sample()
