"""PPO pieces on real envs: GAE, the clipped loss, the small nets, truncation bootstrapping, a short training run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig, mlp_torso
from gea.config import load_job_config
from gea.envs.vector import make_vec
from gea.errors import ConfigError
from gea.train.checkpoint import latest_checkpoint
from gea.train.ppo import PPOConfig, run_ppo
from gea.train.ppo.agent import SmallNetAgent
from gea.train.ppo.buffer import InputStore, compute_gae, episode_ends
from gea.train.ppo.trainer import MinibatchTerms, ppo_loss

FAST = ["total_steps=512", "num_envs=4", "rollout_steps=64", "epochs=2", "minibatches=2", "progress=false"]


def reference_gae(rewards, values, dones, last_value, gamma, lam):  # type: ignore[no-untyped-def]
    """Textbook GAE written per env with Python floats."""
    steps, envs = rewards.shape
    advantages = np.zeros((steps, envs))
    for env in range(envs):
        running = 0.0
        for t in reversed(range(steps)):
            next_value = last_value[env] if t == steps - 1 else values[t + 1, env]
            nonterminal = 1.0 - dones[t, env]
            delta = rewards[t, env] + gamma * next_value * nonterminal - values[t, env]
            running = delta + gamma * lam * nonterminal * running
            advantages[t, env] = running
    return advantages


def test_gae_matches_the_textbook_recursion() -> None:
    generator = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(7, 3, generator=generator), torch.randn(7, 3, generator=generator)
    dones = (torch.rand(7, 3, generator=generator) < 0.3).float()
    last = torch.randn(3, generator=generator)
    advantages, returns = compute_gae(rewards, values, dones, last, 0.97, 0.9)
    expected = reference_gae(rewards.numpy(), values.numpy(), dones.numpy(), last.numpy(), 0.97, 0.9)
    np.testing.assert_allclose(advantages.numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(returns, advantages + values)


def test_ppo_loss_clips_the_ratio_and_reports_kl() -> None:
    old = torch.zeros(4)
    new = torch.tensor([0.0, 0.5, -0.5, 0.1], requires_grad=True)
    advantages = torch.tensor([1.0, 1.0, -1.0, 1.0])
    zeros = torch.zeros(4)
    terms = MinibatchTerms(new, old, advantages, zeros, zeros, zeros, torch.ones(4))
    out = ppo_loss(terms, clip=0.2, value_coef=0.5, entropy_coef=0.0, normalize_advantages=False)
    out.loss.backward()
    # exp(0.5) and exp(-0.5) are outside [0.8, 1.2] in the direction the advantage favours: no gradient.
    assert new.grad is not None
    assert new.grad[1] == 0 and new.grad[2] == 0 and new.grad[0] != 0
    assert out.clip_fraction.item() == pytest.approx(0.5)
    ratio = new.detach().exp()
    assert out.approx_kl.item() == pytest.approx(((ratio - 1) - new.detach()).mean().item(), rel=1e-6)


@pytest.mark.parametrize(
    ("encoder", "shape", "discrete"), [("mlp", (4,), True), ("cnn", (64, 64, 3), True), ("mlp", (3,), False)]
)
def test_small_net_sample_and_evaluate_agree(encoder: str, shape: tuple[int, ...], discrete: bool) -> None:
    torch.manual_seed(0)
    net = SmallActorCriticNet(SmallNetConfig(encoder, shape, 5, discrete, popart=True))  # type: ignore[arg-type]
    dtype = torch.uint8 if encoder == "cnn" else torch.float32
    obs = torch.randint(0, 255, (6, *shape)).to(dtype)
    head, _ = net(obs)
    actions, log_prob = net.sample(head)
    again, entropy = net.log_prob_entropy(head, actions)
    torch.testing.assert_close(log_prob, again)
    if discrete:
        assert ((actions >= 0) & (actions < 5)).all()
        assert (entropy <= math.log(5) + 1e-5).all()
    greedy, _ = net.sample(head, greedy=True)
    assert torch.equal(greedy, head.argmax(-1) if discrete else head)


def test_mlp_torso_computes_what_nn_sequential_computes() -> None:
    torch.manual_seed(0)
    torso = mlp_torso(4, 64)
    sequential = torch.nn.Sequential(*torso)  # the same layers, called as modules
    inputs = torch.randn(8, 4)
    out = torso(inputs)
    expected = sequential(inputs)
    assert torch.equal(out, expected)
    grads = torch.autograd.grad(out.square().sum(), list(torso.parameters()))
    expected_grads = torch.autograd.grad(expected.square().sum(), list(sequential.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(grads, expected_grads, strict=True))
    assert list(torso.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # checkpoints keep their keys


@pytest.mark.parametrize("kind", ["tensors", "objects"])
def test_input_rows_equal_gathering_those_rows(kind: str) -> None:
    store = InputStore(steps=3, num_envs=4)
    for step in range(3):
        if kind == "tensors":
            store.put(step, {"obs": torch.randn(4, 2), "action": torch.arange(4) + 4 * step})
        else:
            store.put(step, [f"record {step}-{env}" for env in range(4)])
    for start, stop in [(0, 12), (2, 7), (8, 12)]:
        rows, gathered = store.rows(start, stop), store.gather(torch.arange(start, stop))
        if kind == "tensors":
            assert rows.keys() == gathered.keys()
            assert all(torch.equal(rows[key], gathered[key]) for key in rows)
        else:
            assert rows == gathered


def test_truncated_episodes_carry_their_final_observation() -> None:
    envs = make_vec("cartpole", 2, asynchronous=False, seed=0, render_mode=None, image_size=8, max_episode_steps=3)
    try:
        envs.reset(seed=0)
        ends = []
        for _ in range(3):
            _, _, terminated, truncated, infos = envs.step([0, 0])
            ends = episode_ends(terminated, truncated, infos)
        assert [end.index for end in ends] == [0, 1]
        assert all(end.truncated and not end.restarted for end in ends)
        assert all(end.final_obs is not None and end.final_obs["proprio"].shape == (4,) for end in ends)
    finally:
        envs.close()


@pytest.mark.parametrize(
    ("image_size", "env_kwargs", "expected"),
    [
        (None, {}, {"image_size": 64}),
        (32, {}, {"image_size": 32}),
        (None, {"render_mode": None, "image_size": 8}, {"image_size": 8, "render_mode": None}),
    ],
)
def test_env_options_keep_render_mode_none(
    image_size: int | None, env_kwargs: dict[str, object], expected: dict[str, object]
) -> None:
    """``env_kwargs={render_mode: None}`` (state-only training, no rendering) reaches the envs; an unset image size
    falls back to the default."""
    from gea.train.ppo.run import rank_env_kwargs

    config = PPOConfig(envs=["cartpole"], image_size=image_size, env_kwargs=env_kwargs)
    assert rank_env_kwargs(config, ["cartpole"]) == expected


def test_short_run_writes_checkpoint_tensorboard_and_policy(tmp_path: Path) -> None:
    config = load_job_config(
        "ppo", PPOConfig, [*FAST, f"out_dir={tmp_path}", "checkpoint_every=1", "policy.popart=true"]
    )
    result = run_ppo(config)
    assert result.global_step == 512 and result.updates == 2
    assert result.episodes > 0 and math.isfinite(result.mean_return)
    row = result.history[-1]
    for key in ("return", "fps", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "kl_start"):
        assert math.isfinite(row[key]), key
    assert 0.0 <= row["entropy"] <= 1.0  # normalized by log(2)
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None and checkpoint.trainer_state["step"] == 512
    assert any((tmp_path / "tensorboard").iterdir())
    agent = SmallNetAgent.load(tmp_path / "policy", ["cartpole"], torch.device("cpu"))
    assert agent.net.popart is not None


def test_start_from_an_exported_policy(tmp_path: Path) -> None:
    first = load_job_config("ppo", PPOConfig, [*FAST, f"out_dir={tmp_path / 'a'}", "checkpoint_every=0"])
    run_ppo(first)
    second = load_job_config(
        "ppo", PPOConfig, [*FAST, f"out_dir={tmp_path / 'b'}", f"policy.path={tmp_path / 'a' / 'policy'}"]
    )
    result = run_ppo(second)
    assert result.history[0]["kl_start"] == pytest.approx(0.0, abs=1e-6)  # starts exactly at the loaded policy


def test_value_warmup_updates_train_the_critic_and_leave_the_policy(tmp_path: Path) -> None:
    first = load_job_config("ppo", PPOConfig, [*FAST, f"out_dir={tmp_path / 'a'}", "checkpoint_every=0"])
    run_ppo(first)
    start = SmallNetAgent.load(tmp_path / "a" / "policy", ["cartpole"], torch.device("cpu")).net.state_dict()
    warm = [*FAST, f"out_dir={tmp_path / 'b'}", f"policy.path={tmp_path / 'a' / 'policy'}", "value_warmup_updates=2"]
    result = run_ppo(load_job_config("ppo", PPOConfig, warm))
    assert result.updates == 2 and all(row["kl_start"] == pytest.approx(0.0, abs=1e-6) for row in result.history)
    after = SmallNetAgent.load(tmp_path / "b" / "policy", ["cartpole"], torch.device("cpu")).net.state_dict()
    critic = [name for name in start if "critic_body" in name or "value_head" in name]
    assert critic and all(not torch.equal(start[name], after[name]) for name in critic if name.endswith("weight"))
    assert all(torch.equal(start[name], after[name]) for name in start if name not in critic)


def test_config_errors_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="minibatches"):
        load_job_config("ppo", PPOConfig, ["num_envs=3", "rollout_steps=5", "minibatches=4"])
    with pytest.raises(ConfigError, match="algo"):
        load_job_config("ppo", PPOConfig, ["algo=dqn"])
    with pytest.raises(ConfigError, match="observation"):
        run_ppo(load_job_config("ppo", PPOConfig, [*FAST, "policy.observation=depth", "out_dir=/tmp/unused"]))
