"""The MiniWorld shortest-path oracle reaches the goal from privileged positions."""

import importlib.util

import pytest

import gea.envs
from gea.agents.experts import has_expert, make_expert
from gea.rollouts.episodes import run_episode

# Not importorskip: importing miniworld before the adapter sets pyglet's headless option needs an X display.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("miniworld") is None, reason="miniworld (the nav3d extra) is not installed"
)


def success_rate(env_id: str, episodes: int) -> float:
    """Fraction of ``episodes`` (seeds 0..n-1) the oracle completes."""
    env = gea.envs.make(env_id, image_size=16)
    expert = make_expert(env_id)
    results = [run_episode(env, expert, seed, env_id, end_on_success=False) for seed in range(episodes)]
    env.close()
    return sum(result.success for result in results) / episodes


@pytest.mark.parametrize("task", ["Hallway", "OneRoom", "Sign", "FourRooms", "MazeS3"])
def test_oracle_reaches_goal(task: str) -> None:
    assert success_rate(f"miniworld:{task}", episodes=5) >= 0.8


@pytest.mark.slow
@pytest.mark.parametrize("task", ["Maze", "WallGap", "TMaze", "YMaze", "Sidewalk"])
def test_oracle_multi_room(task: str) -> None:
    assert success_rate(f"miniworld:{task}", episodes=10) >= 0.8


def test_no_oracle_for_tasks_without_a_goal_to_reach() -> None:
    assert has_expert("miniworld:OneRoom") and not has_expert("miniworld:PickupObjects")
