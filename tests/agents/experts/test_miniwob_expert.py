"""Scripted MiniWoB++ experts solve their tasks in real headless Chromium."""

import pytest

import gea.envs
from gea.agents.experts import has_expert, make_expert
from gea.agents.experts.miniwob_solver import solved_tasks
from gea.envs.adapters.miniwob_tasks import MINIWOB_TASKS

pytest.importorskip("miniwob", reason="miniwob is not installed (pip install 'gea[ui]')")
pytest.importorskip("selenium", reason="selenium is not installed (pip install 'gea[ui]')")


def test_every_registered_task_has_a_solver() -> None:
    assert set(solved_tasks()) == set(MINIWOB_TASKS)
    assert all(has_expert(f"miniwob:{task}") for task in MINIWOB_TASKS)


@pytest.mark.parametrize("task", ["click-checkboxes", "login-user", "click-collapsible", "navigate-tree"])
def test_expert_succeeds(task: str) -> None:
    env_id = f"miniwob:{task}"
    env = gea.envs.make(env_id)
    expert = make_expert(env_id)
    successes = 0
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        expert.reset(env)
        for _ in range(gea.envs.spec(env_id).max_episode_steps):
            action = expert.act(env, obs)
            assert isinstance(action, str)
            obs, _, terminated, truncated, info = env.step(action)
            assert "action_error" not in info
            if terminated or truncated:
                break
        successes += info["success"]
    env.close()
    assert successes == 3
