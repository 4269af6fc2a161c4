"""PPO on the GEA policy (tiny offline LLaVA-OneVision, LoRA) in BabyAI, with the joint SFT term on expert data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from color_bandit_env import COLOR_BANDIT_ID

from gea.agents.policy import GEAPolicy
from gea.config import load_job_config
from gea.rollouts.collect import CollectConfig, collect
from gea.train.ppo import PPOConfig, run_ppo

ENV = "babyai:GoToLocal"
RUN = ["num_envs=2", "rollout_steps=4", "epochs=1", "minibatches=1", "total_steps=8", "progress=false",
       "image_size=64", "env_kwargs.render_mode=rgb_array", f"envs=[{ENV}]", "sft.batch_size=2"]  # fmt: skip


@pytest.fixture(scope="module")
def expert_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two BabyAI-bot episodes as an episode dataset."""
    out = tmp_path_factory.mktemp("expert")
    overrides = [f"out={out}", "progress=false", f"envs=[{ENV}]", "episodes_per_task=2", "num_envs=1"]
    collect(load_job_config("collect", CollectConfig, overrides))
    return out


@pytest.mark.slow  # ~35 s on 2 busy cores: builds the tiny MLLM with LoRA and decodes every step
def test_mllm_ppo_with_lora_and_joint_sft(tmp_path: Path, expert_data: Path) -> None:
    overrides = [*RUN, "policy=mllm", "policy.lora.enabled=true", "policy.lora.rank=4", "policy.lora.alpha=8",
                 f"sft.dataset={expert_data}", f"out_dir={tmp_path}"]  # fmt: skip
    result = run_ppo(load_job_config("ppo", PPOConfig, overrides))
    row = result.history[0]
    # evaluate() re-scores the stored prompts and token ids exactly as act() sampled them ...
    assert abs(row["approx_kl"]) < 1e-3 and row["clip_fraction"] == 0.0
    # ... and with fresh (zero) LoRA adapters the policy is still the start policy.
    assert abs(row["kl_start"]) < 1e-4
    assert all(math.isfinite(row[key]) for key in ("sft_loss", "policy_loss", "value_loss", "entropy"))
    assert row["entropy"] >= 0.0
    policy = GEAPolicy.from_pretrained(tmp_path / "policy")
    assert ENV in policy.tasks
    # Stage 2 proper starts from a checkpoint on disk (an SFT run's policy/ folder): load it by path.
    again = [*RUN, "policy=mllm", "policy.lora.enabled=true", "policy.lora.rank=4",
             f"policy.path={tmp_path / 'policy'}", f"out_dir={tmp_path / 'from_checkpoint'}"]  # fmt: skip
    resumed = run_ppo(load_job_config("ppo", PPOConfig, again))
    assert abs(resumed.history[0]["kl_start"]) < 1e-4 and resumed.global_step == 8


def test_small_cnn_with_joint_sft_on_images(tmp_path: Path, expert_data: Path) -> None:
    overrides = [*RUN, "policy.encoder=cnn", "policy.observation=image", f"sft.dataset={expert_data}",
                 f"out_dir={tmp_path}"]  # fmt: skip
    result = run_ppo(load_job_config("ppo", PPOConfig, overrides))
    assert math.isfinite(result.history[0]["sft_loss"])


def test_image_size_reaches_every_env(tmp_path: Path) -> None:
    overrides = [*(item for item in RUN if not item.startswith("image_size=")), "image_size=48", "policy.encoder=cnn",
                 "policy.observation=image", "sft.weight=0", f"out_dir={tmp_path}"]  # fmt: skip
    run_ppo(load_job_config("ppo", PPOConfig, overrides))
    assert json.loads((tmp_path / "policy" / "small_net.json").read_text())["input_shape"] == [48, 48, 3]


def test_mllm_ppo_learns_a_colour_bandit_from_its_images(tmp_path: Path) -> None:
    # The randomly initialised tiny MLLM must read the screen's colour to pick the rewarded turn: chance is 50%.
    overrides = ["ppo_recipe@_global_=gea", "policy=mllm", "policy.lora.enabled=false", f"envs=[{COLOR_BANDIT_ID}]",
                 "imports=[color_bandit_env]", "image_size=32", "num_envs=8", "asynchronous=false", "rollout_steps=8",
                 "epochs=2", "minibatches=2", "lr=1e-3", "entropy_coef=0", "sft.weight=0", "total_steps=1024",
                 "progress=false", "threads=1", "tensorboard=false", f"out_dir={tmp_path}"]  # fmt: skip
    result = run_ppo(load_job_config("ppo", PPOConfig, overrides))
    first, last = result.history[0]["success"], [row["success"] for row in result.history[-4:]]
    assert first < 0.8 and min(last) >= 0.9, (first, last)
