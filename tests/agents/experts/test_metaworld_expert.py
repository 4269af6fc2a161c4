"""Scripted Meta-World expert: task -> policy mapping and success through gea.envs.make."""

from __future__ import annotations

import importlib.util

import pytest

import gea.envs
from gea.agents.experts import has_expert, make_expert
from gea.envs.adapters.metaworld_tasks import MT50
from gea.errors import UnknownEnvError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("metaworld") is None, reason="metaworld is not installed: pip install 'gea[metaworld]'"
)


def test_every_task_maps_to_its_scripted_policy() -> None:
    from metaworld.policies import ENV_POLICY_MAP

    from gea.agents.experts.metaworld_scripted import policy_class, policy_class_by_name

    for task in MT50:
        assert has_expert(f"metaworld:{task}")
        assert policy_class(task) is ENV_POLICY_MAP[task]
        assert policy_class_by_name(task) is ENV_POLICY_MAP[task]
    with pytest.raises(UnknownEnvError, match="no scripted Meta-World policy"):
        policy_class_by_name("juggle-v3")


@pytest.mark.parametrize("task", ["reach-v3", "push-v3", "drawer-open-v3", "button-press-topdown-v3", "pick-place-v3"])
def test_scripted_expert_solves_task(task: str) -> None:
    env_id = f"metaworld:{task}"
    env = gea.envs.make(env_id, image_size=16)
    expert = make_expert(env_id)
    successes = 0
    for seed in range(3):
        observation, info = env.reset(seed=seed)
        expert.reset(env)
        done = False
        while not done:
            observation, _, terminated, truncated, info = env.step(expert.act(env, observation))
            done = terminated or truncated or info["success"]
        successes += info["success"]
    env.close()
    assert successes / 3 >= 0.9, f"{task}: {successes}/3 episodes succeeded"
