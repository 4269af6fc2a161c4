"""BabyAI as high-level-skill planning (``babyai-skills:*``) under the platform contract."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.errors import InvalidActionError

pytest.importorskip("minigrid", reason="minigrid (the babyai extra) is not installed")

from gea.envs.adapters.babyai_skills import SKILL_LEVELS, SKILL_NAMES, SUBGOAL_REWARD

IDS = ["babyai-skills:BossLevel", "babyai-skills:UnlockPickup", "babyai-skills:PutNextLocal"]


def test_action_set_is_fixed_and_in_words() -> None:
    assert len(SKILL_NAMES) == len(set(SKILL_NAMES)) == 79
    assert {"go to the red ball", "pick up the yellow key", "open the blue door", "drop the held object"} <= set(
        SKILL_NAMES
    )
    assert "put the held object next to the grey box" in SKILL_NAMES
    for level in SKILL_LEVELS:
        spec = gea.envs.spec(f"babyai-skills:{level}")
        assert spec.domain == "planning" and spec.action.names == SKILL_NAMES and spec.max_episode_steps == 50


@pytest.mark.parametrize("env_id", IDS)
def test_contract(env_id: str) -> None:
    env = gea.envs.make(env_id, image_size=32)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=2)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].std() > 0
    assert info["success"] is False and info["skill_error"] == ""
    for _ in range(4):
        _, _, terminated, _, info = env.step(env.action_space.sample())
        assert isinstance(info["success"], bool) and isinstance(info["skill_error"], str)
        if terminated:
            break
    again, _ = env.reset(seed=2)
    np.testing.assert_array_equal(obs["image"], again["image"])
    with pytest.raises(InvalidActionError):
        env.step(len(SKILL_NAMES))
    env.close()


def test_invalid_skills_explain_themselves_and_cost_a_step() -> None:
    env = gea.envs.make("babyai-skills:UnlockPickup", max_episode_steps=3)
    env.reset(seed=0)
    minigrid = env.unwrapped.minigrid
    before = (tuple(minigrid.agent_pos), minigrid.agent_dir)
    _, reward, _, _, info = env.step("drop the held object")
    assert info["skill_error"] == "not holding anything" and reward == 0.0
    assert (tuple(minigrid.agent_pos), minigrid.agent_dir) == before
    missing = next(name for name in SKILL_NAMES if name.startswith("go to") and name.endswith("ball"))
    _, _, _, _, info = env.step(missing)
    assert info["skill_error"].startswith("there is no")
    _, _, _, truncated, info = env.step("put the held object next to the red door")
    assert info["skill_error"].startswith("not holding") and truncated
    env.close()


def test_locked_door_needs_its_key() -> None:
    env = gea.envs.make("babyai-skills:UnlockPickup")
    env.reset(seed=0)
    door = next(obj for obj in env.unwrapped.minigrid.grid.grid if obj is not None and obj.type == "door")
    _, _, _, _, info = env.step(f"open the {door.color} door")
    assert info["skill_error"] == f"the {door.color} door is locked; pick up the {door.color} key first"
    _, _, _, _, info = env.step(f"pick up the {door.color} key")
    assert info["skill_error"] == "" and env.unwrapped.minigrid.carrying.type == "key"
    _, _, _, _, info = env.step(f"open the {door.color} door")
    assert info["skill_error"] == "" and door.is_open
    env.close()


def test_subgoal_and_success_rewards() -> None:
    from gea.agents.experts import make_expert

    env = gea.envs.make("babyai-skills:GoToSeq")
    seed = next(s for s in range(50) if ", then" in env.reset(seed=s)[0]["instruction"])
    observation, _ = env.reset(seed=seed)
    expert = make_expert("babyai-skills:GoToSeq")
    rewards, info, done = [], {"success": False}, False
    while not done:
        observation, reward, terminated, truncated, info = env.step(expert.act(env, observation))
        rewards.append(reward)
        done = terminated or truncated
    assert info["success"]
    # Parts of the composite mission pay SUBGOAL_REWARD as they complete; the last step also pays 1 for success.
    assert rewards[-1] >= 1.0
    assert sum(rewards) == pytest.approx(1.0 + SUBGOAL_REWARD * round((sum(rewards) - 1.0) / SUBGOAL_REWARD))
    assert sum(rewards) > 1.0
    env.close()
