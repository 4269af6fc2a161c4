"""Every Procgen game has an expert: a trained one (shipped) or a search expert, and it acts in the real game."""

from __future__ import annotations

import pytest

pytest.importorskip("procgen", reason="Procgen experts play Procgen (optional `procgen` extra)")

import gea.envs
from gea.agents.experts import has_expert, make_expert
from gea.envs.adapters.procgen_games import PROCGEN_GAMES


@pytest.mark.parametrize("game", sorted(PROCGEN_GAMES))
def test_every_procgen_game_resolves_to_an_expert_that_acts(game: str) -> None:
    env_id = f"procgen:{game}"
    assert has_expert(env_id), f"{env_id} has no expert"
    expert = make_expert(env_id)
    env = gea.envs.make(env_id)
    try:
        observation, _ = env.reset(seed=5_500_000)
        expert.reset(env)
        action = expert.act(env, observation)
        assert env.action_space.contains(action), f"{env_id}: {action!r}"
        env.step(action)
    finally:
        env.close()
