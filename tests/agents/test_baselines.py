"""Baselines behind the batched policy interface, driven through the real env layer."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from small_actor_critic import SmallActorCritic

import gea.envs
from gea.agents.baselines import ExpertPolicy, RandomPolicy, SB3Policy
from gea.agents.interface import EpisodeAdapter
from gea.rollouts.episodes import run_episode


def _reset_all(envs: list[gym.Env[Any, Any]], seed: int = 0) -> list[dict[str, Any]]:
    return [env.reset(seed=seed + index)[0] for index, env in enumerate(envs)]


def test_random_policy_mixes_embodiments() -> None:
    ids = ["cartpole", "babyai:GoToRedBall", "metaworld:reach-v3"]
    specs = [gea.envs.spec(env_id) for env_id in ids]
    observations = [{"image": np.zeros((8, 8, 3), np.uint8), "instruction": ""}] * 3
    actions = RandomPolicy(seed=0).act(observations, specs).actions
    assert actions[0] in (0, 1) and 0 <= actions[1] < 7 and np.asarray(actions[2]).shape == (4,)


def test_expert_policy_solves_babyai() -> None:
    envs = [gea.envs.make("babyai:GoToRedBallNoDists", image_size=16) for _ in range(2)]
    policy = ExpertPolicy(envs)
    observations = _reset_all(envs)
    solved = [False, False]
    for _ in range(64):
        actions = policy.act(observations, "babyai:GoToRedBallNoDists").actions
        steps = [env.step(action) for env, action in zip(envs, actions, strict=True)]
        observations = [step[0] for step in steps]
        solved = [done or step[4]["success"] for done, step in zip(solved, steps, strict=True)]
        if all(solved):
            break
    assert all(solved)


def test_sb3_policy_acts_in_cartpole() -> None:
    pytest.importorskip("stable_baselines3", reason="stable-baselines3 (the 'rl' extra) is not installed")
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, batch_size=32, seed=0, device="cpu")
    policy = SB3Policy({"cartpole": model}, observation_key="proprio")
    env = gea.envs.make("cartpole", image_size=16)
    result = run_episode(env, EpisodeAdapter(policy), seed=0, env_id="cartpole")
    assert result.length >= 1


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
