"""The ablations (success-SFT, IQL) and surviving env worker crashes during PPO."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.config import load_job_config
from gea.train.ppo import PPOConfig, run_ppo
from gea.train.ppo.agent import SmallNetAgent
from gea.train.ppo.buffer import EpisodeStats, RolloutBuffer
from gea.train.ppo.variants import SuccessSFT, expectile_loss

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "envs"))  # the test-only crashy env module

FAST = ["num_envs=4", "rollout_steps=64", "epochs=1", "minibatches=2", "progress=false", "checkpoint_every=0"]


def _rollout(steps: int, episode_ids: np.ndarray, done: np.ndarray, success: np.ndarray, offset: int) -> RolloutBuffer:
    buffer = RolloutBuffer(steps, 2, torch.device("cpu"))
    for step in range(steps):
        obs = torch.full((2, 4), float(offset + step))
        buffer.add(step, {"obs": obs, "action": torch.zeros(2, dtype=torch.long)}, torch.zeros(2), torch.zeros(2),
                   torch.zeros(2, dtype=torch.long), episode_ids[step])  # fmt: skip
        buffer.add_outcome(step, np.zeros(2), done[step], success[step])
    return buffer


def test_success_sft_keeps_whole_successful_episodes_across_rollouts() -> None:
    net = SmallActorCriticNet(SmallNetConfig("mlp", (4,), 2, True))
    agent = SmallNetAgent(net, "proprio", ["cartpole"] * 2, torch.device("cpu"))
    config = PPOConfig(num_envs=2, rollout_steps=3, minibatches=1)
    keeper = SuccessSFT(config, agent, torch.optim.Adam(net.parameters()))
    stats = EpisodeStats(2)
    # Rollout 1: env 0 runs episode 0 throughout; env 1 finishes episode 1 (a failure) and starts episode 2.
    ids = np.array([[0, 1], [0, 1], [0, 2]])
    done = np.array([[0, 0], [0, 1], [0, 0]], dtype=bool)
    stats.episode_ids[:] = [0, 2]
    keeper.update(_rollout(3, ids, done, np.zeros((3, 2), bool), 0), stats)
    assert keeper.data is None or len(keeper.data["obs"]) == 0
    # Rollout 2: episode 0 (env 0) ends in success at its second step; episode 2 keeps running.
    ids = np.array([[0, 2], [0, 2], [3, 2]])
    done = np.array([[0, 0], [1, 0], [0, 0]], dtype=bool)
    success = np.array([[0, 0], [1, 0], [0, 0]], dtype=bool)
    stats.episode_ids[:] = [3, 2]
    out = keeper.update(_rollout(3, ids, done, success, 10), stats)
    kept = sorted(keeper.data["obs"][:, 0].tolist())
    assert kept == [0.0, 1.0, 2.0, 10.0, 11.0]  # all 5 steps of episode 0, from both rollouts
    assert out["success_steps"] == 5.0 and math.isfinite(out["sft_loss"])


def test_success_sft_and_iql_train_on_own_rollouts(tmp_path: Path) -> None:
    for algo in ("success_sft", "iql"):
        overrides = [*FAST, f"algo={algo}", "total_steps=512", f"out_dir={tmp_path / algo}"]
        overrides += ["iql.updates_per_rollout=4", "iql.batch_size=64"]
        config = load_job_config("ppo", PPOConfig, overrides)
        result = run_ppo(config)
        assert result.global_step == 512
        last = result.history[-1]
        if algo == "iql":
            assert all(math.isfinite(last[key]) for key in ("value_loss", "q_loss", "policy_loss"))
        else:
            assert last["success_steps"] >= 0


def test_expectile_loss_weights_positive_errors_by_tau() -> None:
    errors = torch.tensor([2.0, -2.0])
    assert expectile_loss(errors[:1], 0.7).item() == torch.tensor(0.7 * 4).item()
    assert abs(expectile_loss(errors[1:], 0.7).item() - 0.3 * 4) < 1e-6


def test_training_survives_env_worker_crashes(tmp_path: Path) -> None:
    config = load_job_config(
        "ppo",
        PPOConfig,
        [
            *FAST,
            "envs=[test:crashy-cartpole]",
            "imports=[crashy_env]",
            "asynchronous=true",
            "+env_kwargs.mode=exit",
            "+env_kwargs.at_step=40",
            "total_steps=512",
            f"out_dir={tmp_path}",
        ],
    )
    result = run_ppo(config)
    assert result.global_step == 512
    assert result.history[-1]["worker_restarts"] >= 4  # every env's worker died once and was restarted
    assert all(math.isfinite(row["policy_loss"]) for row in result.history)
