"""`gea sft` configuration (Hydra schema, clear errors), the learning-rate schedule, and the command end to end."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sft_helpers import BABYAI, expert_datasets
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import gea.envs
from gea.cli import main as gea_main
from gea.config import load_job_config
from gea.errors import ConfigError
from gea.rollouts.agents import make_agent
from gea.rollouts.episodes import run_episode
from gea.train.sft.config import DataConfig, SFTConfig
from gea.train.sft.optim import cosine_with_warmup


def test_hydra_composes_the_schema_and_names_bad_keys() -> None:
    config = load_job_config(
        "sft",
        SFTConfig,
        ["data.paths=[a,b]", "data.weights=[1,2]", "strategy=fsdp", "policy.lora.enabled=true", "action_tokenizer=r/t"],
    )
    assert config.data.weighted_paths() == {"a": 1.0, "b": 2.0}
    assert config.strategy == "fsdp" and config.policy.lora.enabled and config.action_tokenizer == "r/t"
    with pytest.raises(ConfigError, match="batchsize"):
        load_job_config("sft", SFTConfig, ["batchsize=3"])
    with pytest.raises(ConfigError, match="strategy"):
        load_job_config("sft", SFTConfig, ["strategy=deepspeed"])
    with pytest.raises(ConfigError, match="strategy=ddp"):
        load_job_config("sft", SFTConfig, ["strategy=fsdp", "eval.every=10"])


def test_data_weights_are_checked() -> None:
    assert DataConfig(paths=["x"], embodiment_weights=["babyai:GoTo=3"]).embodiment_weight_map() == {"babyai:GoTo": 3.0}
    with pytest.raises(ConfigError, match="ENV_ID=WEIGHT"):
        DataConfig(embodiment_weights=["babyai:GoTo"]).embodiment_weight_map()
    with pytest.raises(ConfigError, match=r"2 data\.paths"):
        DataConfig(paths=["x", "y"], weights=[1.0]).weighted_paths()
    with pytest.raises(ConfigError, match=r"data\.paths"):
        DataConfig().weighted_paths()


def test_cosine_schedule_with_warmup() -> None:
    values = [cosine_with_warmup(step, total=10, warmup=2) for step in range(11)]
    assert values[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert all(a >= b for a, b in itertools.pairwise(values[2:]))
    assert values[-1] == pytest.approx(0.0)
    assert cosine_with_warmup(10, total=10, warmup=0, min_fraction=0.1) == pytest.approx(0.1)


def test_gea_sft_command_writes_a_policy_that_gea_eval_can_load(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = expert_datasets(tmp_path_factory)
    out = tmp_path / "run"
    overrides = [f"data.paths=[{paths[0]},{paths[1]}]", "steps=2", "batch_size=2", "device=cpu", "cpu_threads=1"]
    evaluation = ["eval.every=2", f"eval.envs=[{BABYAI}]", "eval.episodes=1", "eval.max_steps=3", "eval.image_size=32"]
    assert gea_main(["sft", *overrides, *evaluation, f"out_dir={out}", "progress=false", "log_every=1"]) == 0
    printed = capsys.readouterr().out
    assert "step 2/2" in printed and f"accuracy/{BABYAI}=" in printed
    assert (out / "config.yaml").is_file()
    logged = EventAccumulator(str(out / "tensorboard"))
    logged.Reload()
    tags = set(logged.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/accuracy", "train/samples_per_s", f"eval/success/{BABYAI}"} <= tags
    agent = make_agent(f"gea:{out}", BABYAI, seed=0)
    assert agent is not None
    env = gea.envs.make(BABYAI, max_episode_steps=5, image_size=32)
    try:
        result = run_episode(env, agent, seed=3, env_id=BABYAI)
    finally:
        env.close()
    assert result.length >= 1
