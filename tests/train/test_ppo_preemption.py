"""DD-PPO straggler handling on gloo: per-sample gradient averaging over unequal rollouts, and a slow rank
preempted so that training finishes in a fraction of the time a full-rollout run needs.

The math: rank r holds n_r samples and back-propagates the mean loss over them, g_r = (1/n_r) sum_i grad l_i.
``all_reduce_gradients(weight=n_r)`` all-reduces (n_r g_r, n_r) and divides: sum_r n_r g_r / sum_r n_r =
(1/N) sum_{all i} grad l_i, the gradient of the mean loss over the union of every rank's samples. The plain average
(1/W) sum_r g_r would over-weight the samples of a preempted rank.
"""

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
from slow_cartpole_env import DELAY_S, SLOW_CARTPOLE_ID
from test_ppo_distributed import global_rollout

from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.errors import ConfigError
from gea.train.checkpoint import latest_checkpoint
from gea.train.distributed import all_reduce_gradients
from gea.train.ppo.agent import SmallNetAgent
from gea.train.ppo.buffer import RolloutBuffer
from gea.train.ppo.config import PPOConfig
from gea.train.ppo.trainer import ppo_update

SAMPLES = (5, 9, 2)  # per rank: deliberately unequal
STEPS, ENVS = 16, 3
FILLED = (16, 10, 5)  # ranks 1 and 2 were preempted after 10 and 5 of 16 steps


def _linear_gradient(samples: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    loss = (model(samples).squeeze(-1) - targets).square().mean()
    loss.backward()
    return torch.cat([model.weight.grad.reshape(-1), model.bias.grad])


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return torch.randn(sum(SAMPLES), 4, generator=generator), torch.randn(sum(SAMPLES), generator=generator)


def _gradients(rank: int) -> dict[bool, torch.Tensor]:
    """This rank's all-reduced gradient of the linear model on its samples: weighted, and plain."""
    samples, targets = _data()
    mine = slice(sum(SAMPLES[:rank]), sum(SAMPLES[: rank + 1]))
    results = {}
    for weighted in (True, False):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        (model(samples[mine]).squeeze(-1) - targets[mine]).square().mean().backward()
        all_reduce_gradients(model.parameters(), weight=SAMPLES[rank] if weighted else None)
        results[weighted] = torch.cat([model.weight.grad.reshape(-1), model.bias.grad])
    return results


def _filled_buffer(data: dict[str, torch.Tensor], columns: slice, filled: int) -> RolloutBuffer:
    """A buffer of ``columns`` of the global rollout, preempted after ``filled`` steps."""
    num_envs = columns.stop - columns.start
    buffer = RolloutBuffer(STEPS, num_envs, torch.device("cpu"))
    for step in range(filled):
        tasks = torch.zeros(num_envs, dtype=torch.long)
        inputs = {"obs": data["obs"][step, columns], "action": data["action"][step, columns]}
        buffer.add(
            step, inputs, data["log_prob"][step, columns], data["value"][step, columns], tasks, torch.arange(3).numpy()
        )
        zeros = torch.zeros(num_envs).numpy()
        buffer.add_outcome(step, data["reward"][step, columns].numpy(), data["done"][step, columns].numpy(), zeros)
    # The observation after a preempted rollout's last step bootstraps it: any value will do for the test.
    buffer.finish(data["value"][filled % STEPS, columns], 0.99, 0.95, filled)
    return buffer


def _union_buffer(parts: list[RolloutBuffer]) -> RolloutBuffer:
    """One single-process buffer holding every step of ``parts`` (their GAE results copied, not recomputed)."""
    rows = sum(part.filled for part in parts)
    union = RolloutBuffer(rows, ENVS, torch.device("cpu"))
    row = 0
    for part in parts:
        for step in range(part.filled):
            index = torch.arange(step * ENVS, (step + 1) * ENVS)
            union.add(
                row, part.inputs.gather(index), part.log_probs[step], part.values[step], part.tasks[step], [0, 1, 2]
            )
            union.advantages[row], union.returns[row] = part.advantages[step], part.returns[step]
            row += 1
    return union


def _agent() -> tuple[SmallActorCriticNet, SmallNetAgent]:
    torch.manual_seed(0)
    net = SmallActorCriticNet(SmallNetConfig("mlp", (4,), 2, True, popart=True))
    return net, SmallNetAgent(net, "proprio", ["cartpole"] * ENVS, torch.device("cpu"))


def _update(buffer: RolloutBuffer, minibatches: int) -> dict[str, torch.Tensor]:
    net, agent = _agent()
    config = PPOConfig(
        num_envs=ENVS, rollout_steps=STEPS, epochs=2, minibatches=minibatches, normalize_advantages=False
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, eps=1e-5)
    ppo_update(agent, optimizer, buffer, config)
    return {name: tensor.detach().clone() for name, tensor in net.state_dict().items()}


def _rank_main(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """Everything the gloo tests below compare, computed once per rank in one 3-process group."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        data = global_rollout(world * ENVS)
        buffer = _filled_buffer(data, slice(rank * ENVS, (rank + 1) * ENVS), FILLED[rank])
        results = {"gradients": _gradients(rank), "update": _update(buffer, 1), "minibatched": _update(buffer, 4)}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("preemption")
    mp.start_processes(_rank_main, args=(3, str(out / "init"), str(out)), nprocs=3, join=True, start_method="spawn")
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(3)]


def test_weighted_all_reduce_is_the_gradient_of_the_union(ranks: list[dict]) -> None:
    union = _linear_gradient(*_data())
    for results in ranks:
        torch.testing.assert_close(results["gradients"][True], union, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(results["gradients"][False], union, rtol=1e-3, atol=1e-4)  # plain average: wrong


def test_update_on_preempted_rollouts_equals_one_process_on_the_union(ranks: list[dict]) -> None:
    data = global_rollout(3 * ENVS)
    parts = [_filled_buffer(data, slice(r * ENVS, (r + 1) * ENVS), FILLED[r]) for r in range(3)]
    single = _update(_union_buffer(parts), minibatches=1)
    for rank, results in enumerate(ranks):
        for name, tensor in single.items():
            torch.testing.assert_close(results["update"][name], tensor, rtol=1e-4, atol=1e-5, msg=f"{rank}: {name}")


def test_ranks_with_unequal_samples_take_the_same_minibatch_steps(ranks: list[dict]) -> None:
    """16, 10 and 5 steps x 3 envs do not all split into 4 equal minibatches; every rank still takes 4 steps."""
    for results in ranks[1:]:
        for name, tensor in ranks[0]["minibatched"].items():
            torch.testing.assert_close(results["minibatched"][name], tensor, msg=name)  # identical replicas


def test_straggler_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="sync_frac"):
        PPOConfig(sync_frac=0.0)
    with pytest.raises(ConfigError, match="needs algo=ppo"):
        PPOConfig(sync_frac=0.6, algo="iql")
    with pytest.raises(ConfigError, match="fill minibatches"):
        PPOConfig(num_envs=1, rollout_steps=8, minibatches=4, min_rollout_fraction=0.25)


def test_slow_rank_is_preempted_and_training_finishes_in_time(tmp_path: Path) -> None:
    """Rank 1 steps a CartPole that sleeps 0.25 s per step; rank 0 a normal one. With sync_frac=0.5 rank 1's
    rollouts end once rank 0 has finished its own, after min_rollout_fraction x 32 = 8 of its 32 steps."""
    total_steps, num_envs, rollout = 320, 2, 32
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "gea.cli", "ppo",
        f"total_steps={total_steps}", f"num_envs={num_envs}", f"rollout_steps={rollout}", "epochs=1", "minibatches=2",
        "sync_frac=0.5", "min_rollout_fraction=0.25", "imports=[slow_cartpole_env]", "progress=false",
        "tensorboard=false", "threads=1", f"+rank_envs.1=[{SLOW_CARTPOLE_ID}]", f"out_dir={tmp_path}",
    ]  # fmt: skip
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :].split("\n}")[0] + "\n}")
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    assert checkpoint is not None
    history = checkpoint.trainer_state["history"]
    # Rank 0 collects 32 steps in well under a second, rank 1 needs 2 s for its minimum 8: it is preempted at 8,
    # (32 + 8) / 64 of a full rollout (a heavily loaded machine may let rank 1 take a step or two more).
    fractions = [row["rollout_fraction"] for row in history]
    assert all(fraction < 1.0 for fraction in fractions) and sorted(fractions)[len(fractions) // 2] == 40 / 64
    assert summary["global_step"] == sum(round(f * 2 * num_envs * rollout) for f in fractions) >= total_steps
    # Without preemption rank 1 alone sleeps ceil(320 / 128) x 32 x 0.25 s = 24 s; preempted, 4 x 8 x 0.25 s = 8 s.
    floor_without_preemption = -(-total_steps // (2 * num_envs * rollout)) * rollout * DELAY_S
    training_seconds = summary["global_step"] / summary["frames_per_second"]
    assert training_seconds < floor_without_preemption, (training_seconds, floor_without_preemption)
