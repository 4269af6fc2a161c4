"""DD-PPO on gloo: a 2-process update equals a 1-process update on the same global batch; torchrun end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.train.ppo.agent import SmallNetAgent
from gea.train.ppo.buffer import RolloutBuffer
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.trainer import ppo_update

STEPS, ENVS_PER_RANK = 16, 3


def global_rollout(num_envs: int) -> dict[str, torch.Tensor]:
    """A fixed random rollout of ``num_envs`` env columns (observations, actions, rewards, dones, values...)."""
    generator = torch.Generator().manual_seed(123)
    return {
        "obs": torch.randn(STEPS, num_envs, 4, generator=generator),
        "action": torch.randint(0, 2, (STEPS, num_envs), generator=generator),
        "log_prob": -torch.rand(STEPS, num_envs, generator=generator) - 0.3,
        "value": torch.randn(STEPS, num_envs, generator=generator),
        "reward": torch.randn(STEPS, num_envs, generator=generator),
        "done": (torch.rand(STEPS, num_envs, generator=generator) < 0.1).float(),
        "last_value": torch.randn(num_envs, generator=generator),
    }


def update_columns(columns: slice, total_envs: int) -> dict[str, torch.Tensor]:
    """Build the same initial agent, fill a buffer with ``columns`` of the global rollout, run one PPO update."""
    torch.manual_seed(0)
    net = SmallActorCriticNet(SmallNetConfig("mlp", (4,), 2, True, popart=True))
    num_envs = columns.stop - columns.start
    agent = SmallNetAgent(net, "proprio", ["cartpole"] * num_envs, torch.device("cpu"))
    data = {
        key: value[:, columns] if value.dim() > 1 else value[columns]
        for key, value in global_rollout(total_envs).items()
    }
    buffer = RolloutBuffer(STEPS, num_envs, torch.device("cpu"))
    for step in range(STEPS):
        tasks = torch.zeros(num_envs, dtype=torch.long)
        inputs = {"obs": data["obs"][step], "action": data["action"][step]}
        buffer.add(step, inputs, data["log_prob"][step], data["value"][step], tasks, torch.arange(num_envs).numpy())
        buffer.add_outcome(
            step, data["reward"][step].numpy(), data["done"][step].numpy(), torch.zeros(num_envs).numpy()
        )
    buffer.finish(data["last_value"], 0.99, 0.95)
    config = PPOConfig(num_envs=num_envs, rollout_steps=STEPS, epochs=3, minibatches=1, normalize_advantages=False)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, eps=1e-5)
    ppo_update(agent, optimizer, buffer, config)
    return {name: tensor.detach().clone() for name, tensor in net.state_dict().items()}


def _rank_main(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        columns = slice(rank * ENVS_PER_RANK, (rank + 1) * ENVS_PER_RANK)
        state = update_columns(columns, world_size * ENVS_PER_RANK)
        torch.save(state, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_update_equals_single_process_update(tmp_path: Path) -> None:
    # spawn, not fork: a fork after this process ran torch ops can deadlock in the OpenMP pool of the children.
    mp.start_processes(
        _rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True, start_method="spawn"
    )
    single = update_columns(slice(0, 2 * ENVS_PER_RANK), 2 * ENVS_PER_RANK)
    for rank in range(2):
        state = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name, tensor in single.items():
            torch.testing.assert_close(state[name], tensor, rtol=1e-4, atol=1e-5, msg=f"rank {rank}: {name}")
    torch.manual_seed(0)
    untouched = SmallActorCriticNet(SmallNetConfig("mlp", (4,), 2, True, popart=True)).state_dict()
    assert not torch.allclose(untouched["action_head.weight"], single["action_head.weight"])  # it did train


@pytest.mark.slow
def test_torchrun_two_ranks_with_different_envs(tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "gea.cli", "ppo",
        "total_steps=1024", "num_envs=4", "rollout_steps=64", "epochs=1", "minibatches=2", "progress=false",
        "+rank_envs.1=[gym:CartPole-v1]", f"out_dir={tmp_path}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :].split("\n}")[0] + "\n}")
    assert summary["global_step"] == 1024 and summary["updates"] == 2
    assert (tmp_path / "checkpoints" / "latest").is_file()
