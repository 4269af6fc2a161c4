"""MiniWorld 3-D navigation tasks under the platform contract, rendered headless (EGL)."""

import importlib.util

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.envs.adapters.miniworld_tasks import SIGN_ACTIONS, TASKS
from gea.errors import InvalidActionError

# Not importorskip: importing miniworld before the adapter sets pyglet's headless option needs an X display.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("miniworld") is None, reason="miniworld (the nav3d extra) is not installed"
)

IDS = ["miniworld:Hallway", "miniworld:OneRoom", "miniworld:Sign"]


def test_required_tasks_are_registered() -> None:
    ids = set(gea.envs.list_envs(contains="miniworld:"))
    assert {f"miniworld:{name}" for name in ("Hallway", "OneRoom", "FourRooms", "MazeS3", "Sign")} <= ids
    assert ids == {f"miniworld:{task.name}" for task in TASKS}
    assert gea.envs.spec("miniworld:Hallway").action.names == ("turn left", "turn right", "move forward")
    assert gea.envs.spec("miniworld:Sign").action.names == SIGN_ACTIONS


@pytest.mark.parametrize("env_id", IDS)
def test_contract(env_id: str) -> None:
    env = gea.envs.make(env_id, image_size=48)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    assert obs["image"].shape == (48, 48, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].max() > 0 and obs["image"].std() > 0
    assert info["success"] is False and obs["instruction"]
    moved, _, _, _, info = env.step("turn left")
    assert isinstance(info["success"], bool)
    assert not np.array_equal(obs["image"], moved["image"])
    np.testing.assert_array_equal(env.render(), moved["image"])
    again, _ = env.reset(seed=3)
    np.testing.assert_array_equal(obs["image"], again["image"])
    assert obs["instruction"] == again["instruction"]
    with pytest.raises(InvalidActionError):
        env.step(len(env.unwrapped.embodiment.action.names))
    with pytest.raises(InvalidActionError):
        env.step("jump")
    env.close()


def test_instructions_name_the_goal() -> None:
    env = gea.envs.make("miniworld:OneRoom", image_size=32)
    obs, _ = env.reset(seed=0)
    assert obs["instruction"] == f"go to the {env.unwrapped.sim.box.color} box"
    env.close()
    sign = gea.envs.make("miniworld:Sign", image_size=32)
    shapes = {sign.reset(seed=seed)[0]["instruction"].split(" the ")[-1] for seed in range(8)}
    assert shapes == {"box of that colour", "key of that colour"}
    sign.close()


def test_success_when_goal_reached() -> None:
    env = gea.envs.make("miniworld:OneRoom", image_size=32)
    env.reset(seed=0)
    sim = env.unwrapped.sim
    # Stand right behind the box, facing it: one step forward reaches it.
    sim.agent.dir = 0.0
    sim.agent.pos = sim.box.pos - np.array([sim.box.radius + sim.agent.radius + 0.05, 0.0, 0.0])
    _, reward, terminated, _, info = env.step("move forward")
    assert terminated and reward > 0 and info["success"] is True
    env.close()


@pytest.mark.slow
def test_every_task_builds_and_steps() -> None:
    for task in TASKS:
        env = gea.envs.make(f"miniworld:{task.name}", image_size=32)
        obs, _ = env.reset(seed=0)
        _, _, _, _, info = env.step(0)
        assert obs["image"].std() > 0 and isinstance(info["success"], bool)
        env.close()
