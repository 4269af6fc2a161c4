"""Baselines: the random agent over every embodiment, and the test-side small actor-critic (act vs evaluate)."""

import numpy as np
import torch
from small_actor_critic import SmallActorCritic

import gea.envs
from gea.agents.baselines import RandomAgent


def test_random_agent_samples_every_embodiment() -> None:
    ids = ["cartpole", "babyai:GoToRedBall", "metaworld:reach-v3", "miniwob:click-test"]
    agent = RandomAgent(seed=0)
    actions = [agent.sample(gea.envs.spec(env_id)) for env_id in ids]
    assert actions[0] in (0, 1) and 0 <= actions[1] < 7 and np.asarray(actions[2]).shape == (4,)
    assert np.all(np.abs(actions[2]) <= 1.0) and actions[3].startswith("click ")
    again = RandomAgent(seed=0)
    assert [str(again.sample(gea.envs.spec(env_id))) for env_id in ids] == [str(action) for action in actions]


def test_small_actor_critic_act_matches_evaluate() -> None:
    ids = ["cartpole", "metaworld:reach-v3"]
    torch.manual_seed(0)
    policy = SmallActorCritic(ids, input_shape=(32, 32, 3), observation_key="image")
    observations = {"image": np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)}
    envs = ["cartpole", "metaworld:reach-v3", "cartpole", "metaworld:reach-v3"]
    out = policy.act(observations, envs)
    assert out.actions[0] in (0, 1) and out.actions[1].shape == (4,)
    log_prob, entropy, value = policy.evaluate(observations, envs, out.actions)
    torch.testing.assert_close(log_prob.detach(), out.log_prob, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(value.detach(), out.value)
    assert bool((entropy > 0).all())
    (-log_prob.mean() + value.square().mean()).backward()
    assert policy.encoder[0][0].weight.grad is not None
