"""`gea expert train` with the project's PPO: recipe layering, frame stacking, a real tiny run, resume, scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import gea.agents.experts as experts
from gea.agents.experts.net_expert import FrameStack, NetExpert, load_net
from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.commands import expert as expert_command
from gea.envs.adapters.procgen_games import PROCGEN_GAMES
from gea.errors import ConfigError
from gea.train.checkpoint import latest_checkpoint
from gea.train.experts import ExpertTrainConfig, load_expert_config, train_expert
from gea.train.experts.config import recipe_for, recipe_table
from gea.train.experts.ppo import FrameStackAgent, read_time, training_dtype
from gea.train.experts.record import bootstrap_interval, round_weights, summarize
from gea.train.ppo.agent import SmallNetAgent

pytest.importorskip("procgen", reason="expert training runs on Procgen (optional `procgen` extra)")

ENV_ID = "procgen:coinrun"
TINY = [
    "total_steps=256",
    "num_envs=2",
    "rollout_steps=64",
    "minibatches=2",
    "epochs=1",
    "checkpoint_every=1",
    "act=auto",  # the Procgen recipe samples; the tiny run checks the selection between the two modes
    "select_episodes=1",
    "eval_episodes=2",
    "eval_max_steps=30",
    "progress=false",
]


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Experts registered by a test (training registers its result) vanish after it."""
    experts.has_expert(ENV_ID)
    monkeypatch.setattr(experts, "_EXPERTS", dict(experts._EXPERTS))


def test_recipe_table_covers_every_procgen_game_and_ten_atari57_games() -> None:
    import gea.envs

    games = recipe_table()["games"]
    assert {f"procgen:{game}" for game in PROCGEN_GAMES} <= set(games)
    atari = [env_id for env_id in games if env_id.startswith("atari:")]
    assert len(atari) >= 10 and all("atari57" in gea.envs.spec(env_id).tags for env_id in atari)
    for env_id in games:
        load_expert_config(env_id)  # every recipe fits the schema


def test_settings_layer_defaults_family_game_and_command_line() -> None:
    family = recipe_for("procgen:bigfish")
    assert family["env_kwargs"]["distribution_mode"] == "easy" and family["env_kwargs"]["num_levels"] == 0
    config = load_expert_config("procgen:bigfish", ["lr=1e-3", "+env_kwargs.num_levels=7"])
    assert config.lr == 1e-3  # command line over recipe
    assert config.bootstrap_truncated is False  # family recipe over schema default
    assert config.total_steps == recipe_for("procgen:bigfish")["total_steps"]  # the game's own entry
    assert config.env_kwargs == {"distribution_mode": "easy", "num_levels": 7, "start_level": 0}  # merged, not replaced
    atari = load_expert_config("atari:Breakout", ["frame_stack=3"])
    assert atari.frame_stack == 3 and atari.train_env_kwargs == {"terminal_on_life_loss": True}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("backend=torch", "backend=torch: choose one of ppo, sb3"),
        ("encoder=resnet", "encoder=resnet: choose one of cnn, impala"),
        ("act=best", "act=best: choose one of auto, greedy, sample"),
        ("backend=sb3 encoder=impala", "CnnPolicy"),
        ("backend=sb3 precision=bfloat16", "float32"),
        ("precision=fp8", "precision=fp8: choose one of auto, float32, bfloat16"),
        ("minibatches=3", "not divisible"),
        ("clip_rewards=true", "PopArt"),
        ("frame_stack=0", "frame_stack=0: must be at least 1"),
        ("total_stepz=5", "total_steps"),
    ],
)
def test_bad_settings_fail_before_any_work(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_expert_config(ENV_ID, override.split())


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_computes_it_natively(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native)
    cpu = torch.device("cpu")
    assert training_dtype("auto", cpu) == (torch.bfloat16 if native else torch.float32)
    assert training_dtype("float32", cpu) == torch.float32 and training_dtype("bfloat16", cpu) == torch.bfloat16


def test_skip_duplicate_actions_keeps_each_distinct_action_once() -> None:
    from gea.envs import spec
    from gea.train.experts.ppo import build_net

    starpilot = load_expert_config("procgen:starpilot", ["skip_duplicate_actions=true"])
    names = spec("procgen:starpilot").action.names
    allowed = build_net(starpilot, (64, 64, 3)).config.allowed_actions
    assert allowed is not None
    assert [names[index] for index in allowed[9:]] == ["fire forward", "fire backward"]
    assert len(allowed) == 11 and len({names[index] for index in allowed}) == 11
    maze = build_net(load_expert_config("procgen:maze", ["skip_duplicate_actions=true"]), (64, 64, 3))
    assert maze.config.allowed_actions == tuple(range(9))  # every key of Maze does nothing
    assert build_net(load_expert_config("atari:Breakout", []), (64, 64, 3)).config.allowed_actions is None


def test_frame_stack_agent_sees_what_the_expert_will_see() -> None:
    torch.manual_seed(0)
    net = SmallActorCriticNet(SmallNetConfig("cnn", (64, 64, 6), 15, True, cnn_features=16, popart=True))
    agent = FrameStackAgent(SmallNetAgent(net, "image", [ENV_ID] * 2, torch.device("cpu")), 2, 2, (64, 64, 3))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8) for _ in range(4)]
    stacks = [FrameStack(2, (64, 64)) for _ in range(2)]
    agent.reset(np.ones(2, bool))
    expected = [stack.reset(frame) for stack, frame in zip(stacks, frames[0], strict=True)]
    for step, batch in enumerate(frames):
        if step:
            expected = [stack.push(frame) for stack, frame in zip(stacks, batch, strict=True)]
        if step == 2:  # env 1's episode ended before this step: its stack starts again from zeros
            agent.reset(np.array([False, True]))
            expected[1] = stacks[1].reset(batch[1])
        acted = agent.act({"image": batch})
        np.testing.assert_array_equal(acted.inputs["obs"].numpy(), np.stack(expected))
    peek = agent.value_of([{"image": frames[0][1]}], [1])
    with torch.no_grad():
        direct = agent.inner.value_of([{"image": np.concatenate([frames[3][1], frames[0][1]], -1)}], [1])
    torch.testing.assert_close(peek, direct)
    np.testing.assert_array_equal(agent.stacks.numpy(), np.stack(expected))  # value_of left the stacks as they were


def test_tiny_real_run_writes_scores_registers_and_resumes(tmp_path: Path) -> None:
    settings = [*TINY, "frame_stack=2", f"out_dir={tmp_path}"]
    config = load_expert_config(ENV_ID, settings)
    record = train_expert(config)
    folder = tmp_path / "procgen-coinrun"
    assert sorted(path.name for path in folder.iterdir()) == ["expert.json", "model.safetensors", "run"]
    assert json.loads((folder / "expert.json").read_text())["evaluation"] == record["evaluation"]
    assert record["training"]["steps"] == 256 and record["training"]["train_wall_seconds"] > 0
    assert record["training"]["precision"] == str(training_dtype("auto", torch.device("cpu"))).removeprefix("torch.")
    assert len(record["training"]["machine"]["load_average"]) == 3
    evaluation = record["evaluation"]
    assert evaluation["act"] in ("greedy", "sample") and set(evaluation["selection"]) >= {"greedy", "sample"}
    assert evaluation["seeds"] == [config.eval_seed, 2] and len(evaluation["random"]["returns"]) == 2
    assert evaluation["expert"]["normalized"] == pytest.approx((evaluation["expert"]["mean"] - 5.0) / 5.0, abs=1e-3)
    assert isinstance(experts.make_expert(ENV_ID), NetExpert)
    net, saved = load_net(folder)
    assert saved["frame_stack"] == 2 and net.config.input_shape == (64, 64, 6)
    assert read_time(folder / "run")["steps"] == 256

    again = train_expert(load_expert_config(ENV_ID, settings))
    assert again["training"]["steps"] == 256, "a finished run is not trained further"
    longer = train_expert(load_expert_config(ENV_ID, [*settings, "total_steps=512"]))
    assert longer["training"]["steps"] == 512
    checkpoint = latest_checkpoint(folder / "run" / "checkpoints")
    assert checkpoint is not None
    assert [row["step"] for row in checkpoint.trainer_state["history"]] == [128.0, 256.0, 384.0, 512.0]


def test_evaluation_seeds_are_never_training_reset_seeds() -> None:
    config = ExpertTrainConfig(env_id=ENV_ID)
    held_out = set(range(config.eval_seed, config.eval_seed + config.eval_episodes))
    held_out |= set(range(config.select_seed, config.select_seed + config.select_episodes))
    for update in range(3000):  # the trainer resets env i of a run resumed at `update` to seed + i + 1000003 * update
        seeds = {(config.seed + env + 1_000_003 * update) % 2**31 for env in range(64)}
        assert not seeds & held_out


def test_scores_and_intervals() -> None:
    summary = summarize("procgen:maze", [10.0, 0.0, 10.0, 10.0], [True, False, True, True])
    assert summary["mean"] == 7.5 and summary["success_rate"] == 0.75
    assert summary["normalized"] == pytest.approx(0.5)
    low, high = summary["ci95"]
    assert 0.0 <= low <= 7.5 <= high <= 10.0
    assert bootstrap_interval([5.0] * 10, [1.0] * 10) == [4.0, 4.0]
    assert summarize("atari:Breakout", [1.7], [False])["normalized"] == pytest.approx(0.0, abs=0.01)


def test_round_weights_matches_a_float16_round_trip() -> None:
    net = SmallActorCriticNet(SmallNetConfig("impala", (64, 64, 3), 15, True, cnn_features=8))
    original = {name: value.clone() for name, value in net.state_dict().items()}
    round_weights(net, "float16")
    for name, value in net.state_dict().items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, original[name].half().float(), rtol=0, atol=0)


def test_cli_trains_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("GEA_EXPERTS_DIR", str(tmp_path))
    assert expert_command.main(["train", "procgen:maze", *TINY, "act=greedy", "select_episodes=0"]) == 0
    assert "held-out episodes (greedy actions)" in capsys.readouterr().out
    assert expert_command.main(["list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("procgen:maze") and "trained" in line for line in listed)
    assert any(line.startswith("procgen:coinrun") and "shipped" in line for line in listed)
