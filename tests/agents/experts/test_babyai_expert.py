"""The BabyAI bot (``babyai:*``) and the skill planner (``babyai-skills:*``) solve their levels."""

import pytest

import gea.envs
from gea.agents.experts import has_expert, make_expert
from gea.rollouts.episodes import run_episode

pytest.importorskip("minigrid", reason="minigrid (the babyai extra) is not installed")


def success_rate(env_id: str, episodes: int) -> float:
    """Fraction of ``episodes`` (seeds 0..n-1) the expert completes."""
    env = gea.envs.make(env_id, image_size=16)
    expert = make_expert(env_id)
    results = [run_episode(env, expert, seed, env_id, end_on_success=False) for seed in range(episodes)]
    env.close()
    return sum(result.success for result in results) / episodes


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
