"""BabyAI levels (minigrid) under the platform contract."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.errors import InvalidActionError

pytest.importorskip("minigrid", reason="minigrid (the babyai extra) is not installed")

from gea.envs.adapters.babyai_levels import ACTION_NAMES, LEVELS

IDS = ["babyai:GoToRedBall", "babyai:PickupLoc", "babyai:BossLevel"]


def test_static_level_list_matches_minigrid_registry() -> None:
    import gymnasium as gym
    import minigrid  # noqa: F401

    registered = {env_id for env_id in gym.registry if env_id.startswith("BabyAI-")}
    assert {gym_id for _, gym_id, _ in LEVELS} == registered
    assert len({name for name, _, _ in LEVELS}) == len(LEVELS)
    assert set(gea.envs.list_envs(contains="babyai:")) >= {f"babyai:{name}" for name, _, _ in LEVELS}


@pytest.mark.parametrize("env_id", IDS)
def test_contract(env_id: str) -> None:
    env = gea.envs.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=5)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].std() > 0
    assert obs["instruction"] == env.unwrapped.minigrid.mission
    assert info["success"] is False
    for _ in range(5):
        _, _, _, _, info = env.step(env.action_space.sample())
        assert isinstance(info["success"], bool)
    np.testing.assert_array_equal(env.render(), env.unwrapped.render())
    again, _ = env.reset(seed=5)
    np.testing.assert_array_equal(obs["image"], again["image"])
    assert obs["instruction"] == again["instruction"]
    env.close()


def test_action_names_and_bad_actions() -> None:
    assert gea.envs.spec("babyai:GoToLocal").action.names == ACTION_NAMES
    env = gea.envs.make("babyai:GoToLocal")
    env.reset(seed=0)
    env.step("turn left")
    with pytest.raises(InvalidActionError):
        env.step(7)
    with pytest.raises(InvalidActionError):
        env.step(np.array([1, 2]))
    env.close()


def test_agent_view_and_image_size() -> None:
    env = gea.envs.make("babyai:GoToLocal", view="agent", image_size=(48, 40))
    obs, _ = env.reset(seed=1)
    assert obs["image"].shape == (48, 40, 3)
    moved, *_ = env.step("turn left")
    assert not np.array_equal(obs["image"], moved["image"])
    env.close()
    with pytest.raises(ValueError, match="view must be one of"):
        gea.envs.make("babyai:GoToLocal", view="side")


def test_success_when_mission_done() -> None:
    env = gea.envs.make("babyai:GoToRedBallNoDists")
    env.reset(seed=0)
    minigrid = env.unwrapped.minigrid
    ball = next(obj for obj in minigrid.grid.grid if obj is not None and obj.type == "ball")
    # Place the agent next to the ball, facing it: any action that keeps the pose then completes the mission.
    minigrid.grid.set(*minigrid.agent_pos, None)
    x, y = ball.cur_pos
    for direction, (dx, dy) in enumerate([(1, 0), (0, 1), (-1, 0), (0, -1)]):
        stand = (x - dx, y - dy)
        if minigrid.grid.get(*stand) is None:
            minigrid.agent_pos, minigrid.agent_dir = np.array(stand), direction
            break
    _, reward, terminated, _, info = env.step("done")
    assert terminated and reward > 0 and info["success"] is True
    env.close()
