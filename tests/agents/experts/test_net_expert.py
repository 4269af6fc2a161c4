"""Compact RL experts (safetensors + JSON): round trips, acting, registration, shipped experts, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gea.agents.experts as experts
import gea.envs
from gea.agents.experts.net_expert import (
    PACKAGED_EXPERTS_DIR,
    RECORD_FILE,
    WEIGHTS_FILE,
    ExpertModelError,
    FrameStack,
    NetExpert,
    available_experts,
    expert_records,
    load_net,
    load_net_expert,
    register_trained_experts,
    save_net_expert,
)
from gea.agents.small_nets import SmallActorCriticNet, SmallNetConfig
from gea.rollouts.agents import make_agent
from gea.rollouts.episodes import run_episode

procgen = pytest.importorskip("procgen", reason="acting tests use Procgen (optional `procgen` extra)")

ENV_ID = "procgen:coinrun"


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Experts registered by a test vanish after it."""
    experts.has_expert(ENV_ID)  # load the built-in experts first so the copy holds them
    monkeypatch.setattr(experts, "_EXPERTS", dict(experts._EXPERTS))


def small_net(
    frames: int = 2, encoder: str = "cnn", seed: int = 0, allowed: tuple[int, ...] | None = None
) -> SmallActorCriticNet:
    """A random small net on 64 px images stacked ``frames`` deep, with Procgen's 15 actions."""
    torch.manual_seed(seed)
    shape = (64, 64, 3 * frames)
    config = SmallNetConfig(encoder, shape, 15, True, cnn_features=32, popart=True, allowed_actions=allowed)  # type: ignore[arg-type]
    return SmallActorCriticNet(config)


@pytest.mark.parametrize("encoder", ["cnn", "impala"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_save_load_round_trip(tmp_path: Path, encoder: str, dtype: str) -> None:
    net = small_net(encoder=encoder).eval()
    folder = save_net_expert(tmp_path / "e", ENV_ID, net, 2, "sample", {"note": "kept"}, dtype=dtype)
    assert sorted(path.name for path in folder.iterdir()) == [RECORD_FILE, WEIGHTS_FILE]
    loaded, record = load_net(folder)
    assert record["note"] == "kept" and record["act"] == "sample" and record["frame_stack"] == 2
    assert all(value.dtype == torch.float32 for value in loaded.state_dict().values() if value.is_floating_point())
    images = torch.randint(0, 256, (4, 64, 64, 6), dtype=torch.uint8)
    with torch.no_grad():
        expected, actual = net(images)[0], loaded(images)[0]
    if dtype == "float32":
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    else:
        torch.testing.assert_close(actual, expected, rtol=0, atol=2e-3)


def test_allowed_actions_survive_the_round_trip_and_are_the_only_ones_taken(tmp_path: Path) -> None:
    allowed = (0, 4, 7, 9)
    folder = save_net_expert(tmp_path / "e", ENV_ID, small_net(frames=1, allowed=allowed), 1, "sample")
    net, _ = load_net(folder)
    assert net.config.allowed_actions == allowed
    assert net.max_entropy() == pytest.approx(np.log(4))
    expert = load_net_expert(ENV_ID, folder)
    env = gea.envs.make(ENV_ID, max_episode_steps=60)
    taken = set(_actions(expert, env, seed=1, steps=60))
    env.close()
    assert taken <= set(allowed) and len(taken) > 1
    images = torch.randint(0, 256, (64, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        head, _ = net(images)
        sampled, _ = net.sample(head)
    assert set(sampled.tolist()) <= set(allowed)


def test_float16_halves_the_file(tmp_path: Path) -> None:
    net = small_net()
    full = save_net_expert(tmp_path / "full", ENV_ID, net, 2, "greedy", dtype="float32") / WEIGHTS_FILE
    half = save_net_expert(tmp_path / "half", ENV_ID, net, 2, "greedy", dtype="float16") / WEIGHTS_FILE
    assert half.stat().st_size < 0.55 * full.stat().st_size


def test_expert_stacks_frames_and_replays_an_episode_exactly(tmp_path: Path) -> None:
    folder = save_net_expert(tmp_path / "e", ENV_ID, small_net(frames=2), 2, "sample")
    expert = load_net_expert(ENV_ID, folder)
    assert isinstance(expert, NetExpert) and expert.mode == "sample" and expert.stack.frames == 2
    reference = FrameStack(2, (64, 64))
    env = gea.envs.make(ENV_ID, max_episode_steps=30)
    observation, _ = env.reset(seed=4)
    expert.reset(env)
    expected = reference.reset(observation["image"])
    actions = []
    for _ in range(30):
        actions.append(expert.act(env, observation))
        np.testing.assert_array_equal(expert.stack._stack, expected)
        observation, _, terminated, truncated, _ = env.step(actions[-1])
        if terminated or truncated:
            break
        expected = reference.push(observation["image"])
    replay = _actions(load_net_expert(ENV_ID, folder), env, seed=4, steps=len(actions))
    env.close()
    assert replay == actions, "a sampled episode must replay exactly from the same env seed"
    assert len(set(actions)) > 1


def _actions(expert: NetExpert, env: object, seed: int, steps: int) -> list[int]:
    observation, _ = env.reset(seed=seed)  # type: ignore[attr-defined]
    expert.reset(env)  # type: ignore[arg-type]
    actions = []
    for _ in range(steps):
        actions.append(expert.act(env, observation))  # type: ignore[arg-type]
        observation, *_ = env.step(actions[-1])  # type: ignore[attr-defined]
    return actions


def test_act_override_and_greedy_is_the_argmax(tmp_path: Path) -> None:
    net = small_net(frames=1)
    folder = save_net_expert(tmp_path / "e", ENV_ID, net, 1, "sample", dtype="float32")
    expert = load_net_expert(ENV_ID, folder, act="greedy")
    env = gea.envs.make(ENV_ID)
    observation, _ = env.reset(seed=0)
    expert.reset(env)
    action = expert.act(env, observation)
    env.close()
    with torch.no_grad():
        logits, _ = net(torch.from_numpy(np.ascontiguousarray(observation["image"]))[None])
    assert action == int(logits.argmax())


def test_registered_folder_serves_collect_and_eval(tmp_path: Path) -> None:
    save_net_expert(tmp_path / "procgen-bigfish", "procgen:bigfish", small_net(frames=1), 1, "greedy")
    (tmp_path / "half-written").mkdir()
    (tmp_path / "half-written" / WEIGHTS_FILE).write_bytes(b"no record yet")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / RECORD_FILE).write_text(json.dumps({"env_id": "procgen:maze"}))
    assert register_trained_experts(tmp_path) == ["procgen:bigfish"]
    agent = make_agent("expert", "procgen:bigfish", seed=0)
    assert isinstance(agent, NetExpert)
    env = gea.envs.make("procgen:bigfish", max_episode_steps=12)
    assert run_episode(env, agent, seed=0, env_id="procgen:bigfish", end_on_success=False).length == 12
    env.close()


def test_user_experts_win_over_shipped_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEA_EXPERTS_DIR", str(tmp_path))
    folder = save_net_expert(tmp_path / "procgen-coinrun", ENV_ID, small_net(frames=1), 1, "greedy")
    register_trained_experts()
    expert = experts.make_expert(ENV_ID)
    assert isinstance(expert, NetExpert)
    assert expert.net.config.cnn_features == 32  # the user's net, not the shipped one
    sources = [(source, path) for source, path, record in available_experts() if record["env_id"] == ENV_ID]
    assert ("trained", folder) in sources and sources[0][0] == "shipped"


def test_bad_folders_fail_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ExpertModelError, match=r"no expert\.json"):
        load_net(tmp_path)
    folder = save_net_expert(tmp_path / "e", ENV_ID, small_net(frames=1), 1, "greedy")
    (folder / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(ExpertModelError, match=WEIGHTS_FILE):
        load_net(folder)
    folder = save_net_expert(tmp_path / "f", ENV_ID, small_net(frames=1), 1, "greedy")
    record = json.loads((folder / RECORD_FILE).read_text())
    record["net"]["cnn_features"] = 64  # weights no longer fit
    (folder / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(ExpertModelError, match="does not hold the weights"):
        load_net(folder)
    record["format"] = "something-else"
    (folder / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(ExpertModelError, match="format"):
        load_net(folder)
    (folder / RECORD_FILE).write_text("{ truncated")
    with pytest.raises(ExpertModelError, match="not readable JSON"):
        load_net(folder)


def test_shipped_experts_load_and_are_small() -> None:
    shipped = expert_records(PACKAGED_EXPERTS_DIR)
    assert shipped, "the package ships experts"
    total = 0
    for folder, record in shipped:
        assert sorted(path.name for path in folder.iterdir()) == [RECORD_FILE, WEIGHTS_FILE]
        net, _ = load_net(folder)
        assert net.config.input_shape[-1] == 3 * record["frame_stack"]
        total += sum(path.stat().st_size for path in folder.iterdir())
    assert total / len(shipped) < 1.5e6, "shipped experts are stored compactly (float16 safetensors)"
