"""The BabyAI bot (``babyai:*``) and the skill planner (``babyai-skills:*``) solve their levels."""

import pytest

import gea.envs
from gea.rollouts.experts import has_expert, make_expert

pytest.importorskip("minigrid", reason="minigrid (the babyai extra) is not installed")


def success_rate(env_id: str, episodes: int) -> float:
    """Fraction of ``episodes`` (seeds 0..n-1) the expert completes."""
    env = gea.envs.make(env_id, image_size=16)
    expert = make_expert(env_id)
    successes = 0
    for seed in range(episodes):
        observation, info = env.reset(seed=seed)
        expert.reset(env)
        terminated = truncated = False
        while not (terminated or truncated):
            observation, _, terminated, truncated, info = env.step(expert.act(env, observation))
        successes += info["success"]
    env.close()
    return successes / episodes


@pytest.mark.parametrize("level", ["GoToLocal", "PickupLoc", "PutNextLocal", "UnlockPickup", "BossLevel"])
def test_bot_solves_levels(level: str) -> None:
    assert has_expert(f"babyai:{level}")
    assert success_rate(f"babyai:{level}", episodes=10) >= 0.95


def test_act_before_reset_names_the_fix() -> None:
    env = gea.envs.make("babyai:GoToLocal")
    observation, _ = env.reset(seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        make_expert("babyai:GoToLocal").act(env, observation)
    env.close()


SKILL_LEVELS_TESTED = [
    "UnlockPickup",
    "BlockedUnlockPickup",
    "KeyInBox",
    "UnlockToUnlock",
    "KeyCorridor",
    "PutNextLocal",
    "GoToSeq",
    "SynthSeq",
    "MiniBossLevel",
    "BossLevel",
]


@pytest.mark.parametrize("level", SKILL_LEVELS_TESTED)
def test_skill_planner_solves_levels(level: str) -> None:
    assert has_expert(f"babyai-skills:{level}")
    assert success_rate(f"babyai-skills:{level}", episodes=10) >= 0.8
