"""SB3 experts: tiny real `backend=sb3` training on Procgen, safe zip loading, ``sb3:<zip>`` agents, conversion."""

from __future__ import annotations

import base64
import json
import math
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("stable_baselines3", reason="SB3 experts need the optional `rl` extra (stable-baselines3)")
pytest.importorskip("procgen", reason="the tiny training run uses Procgen (optional `procgen` extra)")

import gea.agents.experts as experts
import gea.envs
from gea.agents.experts.net_expert import ExpertModelError, FrameStack, NetExpert, load_net, register_trained_experts
from gea.agents.experts.sb3_expert import (
    SB3Expert,
    convert_sb3_zip,
    load_sb3_expert,
    load_sb3_policy,
    register_sb3_expert,
)
from gea.commands import expert as expert_command
from gea.errors import ConfigError
from gea.rollouts.agents import make_agent
from gea.rollouts.episodes import run_episode
from gea.train.experts import ExpertTrainConfig, train_expert
from gea.train.experts.sb3 import ImagePolicyInput

ENV_ID = "procgen:coinrun"


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread() -> Iterator[None]:
    """Small CNNs on a shared 2-core machine run far faster on one thread than on two competing ones."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Experts registered by a test (training registers its result) vanish after it."""
    experts.has_expert(ENV_ID)  # load the built-in experts first so the copy holds them
    monkeypatch.setattr(experts, "_EXPERTS", dict(experts._EXPERTS))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An SB3 PPO expert trained for 256 real CoinRun steps (module-wide: trained once)."""
    out = tmp_path_factory.mktemp("experts")
    config = ExpertTrainConfig(
        env_id=ENV_ID,
        backend="sb3",
        total_steps=256,
        num_envs=2,
        rollout_steps=64,
        minibatches=2,
        epochs=1,
        frame_stack=2,
        cnn_features=64,
        act="greedy",
        eval_episodes=2,
        eval_max_steps=40,
        progress=False,
        out_dir=str(out),
    )
    saved = dict(experts._EXPERTS)
    try:
        record = train_expert(config)
    finally:
        experts._EXPERTS.clear()
        experts._EXPERTS.update(saved)
    return out / "procgen-coinrun", record


def test_training_writes_the_converted_expert_and_keeps_the_zip(trained: tuple[Path, dict[str, Any]]) -> None:
    folder, record = trained
    assert sorted(path.name for path in folder.iterdir()) == ["expert.json", "model.safetensors", "run"]
    assert not list(folder.rglob("*.tmp")), "an atomic write left its temporary file behind"
    assert record["backend"] == "sb3" and record["training"]["steps"] >= 256
    assert record["evaluation"]["act"] == "greedy" and len(record["evaluation"]["expert"]["returns"]) == 2
    assert list((folder / "run" / "tensorboard").rglob("events.out.tfevents.*")), "no TensorBoard log was written"
    with zipfile.ZipFile(folder / "run" / "model.zip") as archive:
        assert {"data", "policy.pth"} <= set(archive.namelist())
    net, saved = load_net(folder)
    assert saved["frame_stack"] == 2 and net.config.cnn_features == 64


def test_sb3_weighs_the_losses_as_the_ppo_backend(trained: tuple[Path, dict[str, Any]]) -> None:
    """SB3's vf_coef weighs the squared error and ent_coef the raw entropy: the settings are converted to match."""
    folder, _ = trained
    with zipfile.ZipFile(folder / "run" / "model.zip") as archive:
        data = json.loads(archive.read("data"))
    defaults = ExpertTrainConfig()
    assert data["vf_coef"] == pytest.approx(defaults.value_coef / 2)
    assert data["ent_coef"] == pytest.approx(defaults.entropy_coef / math.log(15))  # Procgen's 15 actions


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_converted_expert_acts_like_the_sb3_policy_on_the_real_env(
    trained: tuple[Path, dict[str, Any]], tmp_path: Path, dtype: str
) -> None:
    folder, _ = trained
    sb3 = load_sb3_expert(ENV_ID, folder / "run" / "model.zip")
    convert_sb3_zip(folder / "run" / "model.zip", ENV_ID, tmp_path / "converted", dtype=dtype)
    net, _ = load_net(tmp_path / "converted")
    converted = NetExpert(ENV_ID, net, 2, "greedy")
    assert sb3.stack.frames == 2 and sb3.stack.size == (64, 64)
    training_view = ImagePolicyInput(gea.envs.make(ENV_ID), frame_stack=2)
    env = gea.envs.make(ENV_ID)
    stacked, _ = training_view.reset(seed=3)
    observation, _ = env.reset(seed=3)
    sb3.reset(env)
    converted.reset(env)
    agree = 0
    for _ in range(40):
        action = sb3.act(env, observation)
        agree += converted.act(env, observation) == action
        np.testing.assert_array_equal(sb3.stack._stack, stacked)
        observation, *_ = env.step(action)
        stacked, *_ = training_view.step(action)
    env.close()
    training_view.close()
    assert agree == 40 if dtype == "float32" else agree >= 38


def test_trained_expert_is_registered_and_found(trained: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = trained
    assert register_trained_experts(folder.parent) == [ENV_ID]
    expert = experts.make_expert(ENV_ID)
    assert isinstance(expert, NetExpert)
    env = gea.envs.make(ENV_ID, max_episode_steps=15)
    result = run_episode(env, expert, seed=0, env_id=ENV_ID, end_on_success=False)
    env.close()
    assert result.length == 15


def test_any_zip_registers_explicitly_and_as_an_sb3_agent(trained: tuple[Path, dict[str, Any]]) -> None:
    folder, _ = trained
    register_sb3_expert("procgen:bigfish", folder / "run" / "model.zip")
    assert isinstance(experts.make_expert("procgen:bigfish"), SB3Expert)
    agent = make_agent(f"sb3:{folder / 'run' / 'model.zip'}", "procgen:bigfish", seed=0)
    assert isinstance(agent, SB3Expert)
    env = gea.envs.make("procgen:bigfish", max_episode_steps=5)
    assert run_episode(env, agent, seed=1, env_id="procgen:bigfish").length == 5
    env.close()


def test_missing_and_corrupt_zips_fail_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.zip"
    with pytest.raises(ExpertModelError, match=str(missing)):
        make_agent(f"sb3:{missing}", ENV_ID, seed=0)
    with pytest.raises(ExpertModelError, match=str(missing)):
        register_sb3_expert(ENV_ID, missing)
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 this is not a real zip archive")
    with pytest.raises(ExpertModelError, match=str(corrupt)):
        load_sb3_policy(corrupt)
    no_weights = tmp_path / "no_weights.zip"
    with zipfile.ZipFile(no_weights, "w") as archive:
        archive.writestr("data", "{}")
    with pytest.raises(ExpertModelError, match=str(no_weights)):
        load_sb3_policy(no_weights)


@pytest.mark.parametrize("algorithm", ["A2C", "DQN"])
def test_zips_of_other_sb3_algorithms_load_and_predict_the_same(algorithm: str, tmp_path: Path) -> None:
    import stable_baselines3
    import torch

    env = ImagePolicyInput(gea.envs.make(ENV_ID), frame_stack=1)
    # A2C pickles its policy_kwargs (an optimizer class; here also an activation class): rebuilt from plain fields.
    extra = {"buffer_size": 64} if algorithm == "DQN" else {"policy_kwargs": {"activation_fn": torch.nn.Tanh}}
    model = getattr(stable_baselines3, algorithm)("CnnPolicy", env, seed=0, **extra)
    model.save(tmp_path / "model.zip")
    policy = load_sb3_policy(tmp_path / "model.zip")
    observations = [env.reset(seed=seed)[0] for seed in range(4)]
    env.close()
    for observation in observations:
        expected, _ = model.predict(observation, deterministic=True)
        actual, _ = policy.predict(observation, deterministic=True)
        assert int(actual) == int(expected)


class _Payload:
    """Unpickling this creates a marker file: proof that a loader ran code from the zip."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_loading_never_unpickles_the_zip(trained: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, _ = trained
    marker = tmp_path / "code-ran"
    poisoned = tmp_path / "poisoned.zip"
    with zipfile.ZipFile(folder / "run" / "model.zip") as source, zipfile.ZipFile(poisoned, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "data":
                data = json.loads(content)
                payload = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
                for key in ("policy_class", "observation_space", "action_space", "lr_schedule", "clip_range"):
                    data[key][":serialized:"] = payload
                content = json.dumps(data).encode()
            target.writestr(name, content)
    policy = load_sb3_policy(poisoned)
    assert not marker.exists(), "the loader unpickled part of the zip"
    assert policy.action_space.n == 15

    data = json.loads(zipfile.ZipFile(poisoned).read("data"))
    data["policy_class"]["__init__"] = "<function EvilPolicy.__init__ at 0x0>"
    renamed = tmp_path / "unknown_policy.zip"
    with zipfile.ZipFile(poisoned) as source, zipfile.ZipFile(renamed, "w") as target:
        for name in source.namelist():
            target.writestr(name, json.dumps(data) if name == "data" else source.read(name))
    with pytest.raises(ExpertModelError, match="EvilPolicy"):
        load_sb3_policy(renamed)


def test_frame_stack_is_oldest_first_with_zeros_before_the_first_frame() -> None:
    stack = FrameStack(3, (4, 4))
    first = stack.reset(np.full((4, 4, 3), 7, np.uint8))
    assert first.shape == (4, 4, 9)
    assert (first[..., :6] == 0).all() and (first[..., 6:] == 7).all()
    second = stack.push(np.full((8, 8, 3), 9, np.uint8))  # other sizes are resized
    assert (second[..., :3] == 0).all() and (second[..., 3:6] == 7).all() and (second[..., 6:] == 9).all()


def test_only_plain_cnn_policies_convert(tmp_path: Path) -> None:
    import stable_baselines3

    env = ImagePolicyInput(gea.envs.make(ENV_ID), frame_stack=1)
    model = stable_baselines3.PPO("CnnPolicy", env, seed=0, n_steps=64, policy_kwargs={"net_arch": [32]})
    env.close()
    model.save(tmp_path / "mlp_head.zip")
    with pytest.raises(ExpertModelError, match="features_dim"):
        convert_sb3_zip(tmp_path / "mlp_head.zip", ENV_ID, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_rejects_unknown_keys_and_bad_convert_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="total_timesteps"):
        expert_command.main(["train", ENV_ID, "total_timesteps=10"])
    with pytest.raises(ConfigError, match="act=greedy"):
        expert_command.main(["convert", ENV_ID, str(tmp_path / "model.zip"), "mode=fast"])
    assert expert_command.main(["train"]) == 2
    assert expert_command.main(["--help"]) == 0
