"""Meta-World adapter: registration, benchmark tags, contract, seeding, cameras, rendering cost."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.envs.adapters import metaworld_tasks
from gea.errors import InvalidActionError

needs_metaworld = pytest.mark.skipif(
    importlib.util.find_spec("metaworld") is None, reason="metaworld is not installed: pip install 'gea[metaworld]'"
)
CONTRACT_IDS = ["metaworld:reach-v3", "metaworld:drawer-open-v3", "metaworld:pick-place-v3"]


@pytest.fixture(scope="module")
def reach_env() -> Iterator[gym.Env[Any, Any]]:
    """One reach-v3 env with proprio, shared by the tests that only reset and step it."""
    env = gea.envs.make("metaworld:reach-v3", image_size=32, proprio=True)
    yield env
    env.close()


def test_all_fifty_tasks_are_registered_with_their_spec() -> None:
    ids = gea.envs.list_envs(contains="metaworld:")
    assert len(ids) == 50
    for env_id in ids:
        spec = gea.envs.spec(env_id)
        assert spec.domain == "manipulation"
        assert spec.action == gea.envs.ContinuousActions(4, (-1.0,) * 4, (1.0,) * 4)
        assert spec.extra == "metaworld"
        assert spec.camera == "corner3"
        assert spec.observation_keys == ("image", "instruction")
        assert spec.max_episode_steps == 500
        assert "MT50" in spec.tags
        assert metaworld_tasks.INSTRUCTIONS[metaworld_tasks.task_name(env_id)].strip()


def test_benchmark_tags_select_task_sets() -> None:
    assert gea.envs.list_envs(tag="MT10") == sorted(f"metaworld:{task}" for task in metaworld_tasks.MT10)
    sizes = {tag: len(gea.envs.list_envs(tag=tag)) for tag in metaworld_tasks.TASK_SETS}
    assert sizes == {"MT10": 10, "MT50": 50, "ML10-train": 10, "ML10-test": 5, "ML45-train": 45, "ML45-test": 5}
    assert "ML45-test" in gea.envs.spec("metaworld:door-lock-v3").tags
    assert "ML45-train" not in gea.envs.spec("metaworld:door-lock-v3").tags


@needs_metaworld
def test_static_task_sets_match_metaworld() -> None:
    from metaworld import env_dict

    expected = {
        "MT10": env_dict.MT10_V3,
        "MT50": env_dict.MT50_V3,
        "ML10-train": env_dict.ML10_V3["train"],
        "ML10-test": env_dict.ML10_V3["test"],
        "ML45-train": env_dict.ML45_V3["train"],
        "ML45-test": env_dict.ML45_V3["test"],
    }
    for tag, tasks in expected.items():
        assert set(metaworld_tasks.TASK_SETS[tag]) == set(tasks), tag
        assert len(metaworld_tasks.TASK_SETS[tag]) == len(tasks), tag
    assert set(metaworld_tasks.INSTRUCTIONS) == set(env_dict.ALL_V3_ENVIRONMENTS)


@needs_metaworld
@pytest.mark.parametrize("env_id", CONTRACT_IDS)
def test_adapter_follows_contract(env_id: str) -> None:
    env = gea.envs.make(env_id, image_size=32)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=5)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["instruction"] == metaworld_tasks.INSTRUCTIONS[metaworld_tasks.task_name(env_id)]
    assert set(obs) == {"image", "instruction"}
    assert info["success"] is False
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert isinstance(info["success"], bool)
        assert isinstance(reward, float) and not terminated and not truncated
    np.testing.assert_array_equal(env.render(), obs["image"])
    assert env.unwrapped.state.shape == (39,)
    assert env.max_episode_steps == 500
    env.close()


@needs_metaworld
def test_same_seed_same_start_and_different_seeds_differ(reach_env: gym.Env[Any, Any]) -> None:
    env = reach_env
    first, _ = env.reset(seed=11)
    first_state = env.unwrapped.state.copy()
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first["image"], again["image"])
    np.testing.assert_array_equal(first_state, env.unwrapped.state)
    other, _ = env.reset(seed=12)
    puck_and_goal = np.r_[4:7, 36:39]
    assert not np.allclose(first_state[puck_and_goal], env.unwrapped.state[puck_and_goal])
    assert not np.array_equal(first["image"], other["image"])
    env.reset()  # continues the seeded stream: a new configuration each episode
    assert not np.allclose(env.unwrapped.state[puck_and_goal], first_state[puck_and_goal])


@needs_metaworld
def test_wrong_actions_raise_invalid_action_error(reach_env: gym.Env[Any, Any]) -> None:
    env = reach_env
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"shape \(4,\)"):
        env.step(np.zeros(3))
    with pytest.raises(InvalidActionError, match="expected a float array"):
        env.step("move left")
    with pytest.raises(InvalidActionError, match="NaN"):
        env.step(np.array([0.0, np.nan, 0.0, 0.0]))


@needs_metaworld
def test_proprio_kwarg_adds_the_state_with_goal(reach_env: gym.Env[Any, Any]) -> None:
    env = reach_env
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert obs["proprio"].shape == (39,) and obs["proprio"].dtype == np.float32
    obs, *_ = env.step(np.zeros(4, np.float32))
    np.testing.assert_allclose(obs["proprio"], env.unwrapped.state.astype(np.float32))
    np.testing.assert_allclose(obs["proprio"][36:], env.unwrapped.sim._target_pos, atol=1e-6)
    assert np.any(obs["proprio"][36:] != 0)


@needs_metaworld
def test_state_only_renders_nothing() -> None:
    env = gea.envs.make("metaworld:reach-v3", proprio=True, render_mode=None)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs) and not obs["image"].any()
    assert env.unwrapped._renderer is None
    obs, *_ = env.step(np.zeros(4, np.float32))
    np.testing.assert_allclose(obs["proprio"], env.unwrapped.state.astype(np.float32))
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        env.unwrapped.capture()
    env.close()


@needs_metaworld
def test_image_size_camera_and_time_limit_options() -> None:
    env = gea.envs.make("metaworld:reach-v3", image_size=(24, 40), camera="topview", max_episode_steps=2)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (24, 40, 3)
    env.step(np.zeros(4))
    assert env.step(np.zeros(4))[3] is True
    env.close()
    with pytest.raises(ValueError, match="camera must be one of"):
        gea.envs.make("metaworld:reach-v3", camera="front")


@needs_metaworld
def test_goal_size_draws_the_goal_marker_visibly_at_low_resolution() -> None:
    def red_pixels(goal_size: float | None) -> int:
        env = gea.envs.make("metaworld:reach-v3", image_size=32, goal_size=goal_size)
        image = env.reset(seed=1)[0]["image"].astype(int)
        env.close()
        return int(((image[..., 0] > 150) & (image[..., 1] < 60) & (image[..., 2] < 60)).sum())

    assert red_pixels(0.04) >= red_pixels(None) + 2  # Meta-World's own 2 cm marker covers no pixel at 32 px
    with pytest.raises(ValueError, match="no goal marker"):
        gea.envs.make("metaworld:button-press-v3", goal_size=0.04)
    with pytest.raises(ValueError, match="positive radius"):
        gea.envs.make("metaworld:reach-v3", goal_size=0.0)


@needs_metaworld
def test_renders_exactly_once_per_step(reach_env: gym.Env[Any, Any]) -> None:
    env = reach_env
    env.reset(seed=0)
    renderer = env.unwrapped._renderer
    calls = []
    original = renderer.render
    renderer.render = lambda **kwargs: calls.append(1) or original(**kwargs)
    for _ in range(5):
        env.step(np.zeros(4))
    env.render()
    del renderer.render
    assert len(calls) == 5


# World displacement of the object that must move it up the image: lifting it for cameras that look
# across the table; pushing it away from the robot for the two that look straight down.
_UPWARD_MOVES = {
    "corner3": ((0.0, 0.75, 0.05), (0.0, 0.75, 0.25)),
    "corner": ((0.0, 0.75, 0.05), (0.0, 0.75, 0.25)),
    "corner2": ((0.0, 0.75, 0.05), (0.0, 0.75, 0.25)),
    "corner4": ((0.0, 0.75, 0.05), (0.0, 0.75, 0.25)),
    "behindGripper": ((0.0, 0.75, 0.05), (0.0, 0.75, 0.25)),
    "topview": ((0.0, 0.75, 0.05), (0.0, 0.85, 0.05)),
    "gripperPOV": ((0.0, 0.65, 0.05), (0.0, 0.75, 0.05)),
}


def _magenta_row(image: np.ndarray) -> float:
    mask = (image[..., 0] > 90) & (image[..., 2] > 90) & (image[..., 1] < 70)
    assert mask.sum() >= 5, "the marker object is not visible"
    return float(np.nonzero(mask)[0].mean())


@needs_metaworld
@pytest.mark.parametrize("camera", metaworld_tasks.CAMERAS)
def test_every_camera_is_upright_and_not_mirrored(camera: str) -> None:
    assert set(_UPWARD_MOVES) == set(metaworld_tasks.CAMERAS)
    env = gea.envs.make("metaworld:reach-v3", image_size=96, camera=camera)
    env.reset(seed=0)
    adapter = env.unwrapped
    model = adapter.sim.model
    marker = model.geom("objGeom").id
    model.geom_rgba[marker] = (1.0, 0.0, 1.0, 1.0)
    model.geom_matid[marker] = -1
    model.geom_size[marker] *= 2
    low, high = (np.array(p) for p in _UPWARD_MOVES[camera])
    adapter.sim._set_obj_xyz(low)
    low_row = _magenta_row(adapter.capture())
    adapter.sim._set_obj_xyz(high)
    image = adapter.capture()
    assert _magenta_row(image) < low_row - 2, f"{camera}: an upward move went down the image"

    # The correction is a rotation (or nothing), never a mirror: compare with MuJoCo's own projection.
    raw = adapter._renderer.render()
    rotated = camera.startswith("corner")
    np.testing.assert_array_equal(image, raw[::-1, ::-1] if rotated else raw)
    env.close()
