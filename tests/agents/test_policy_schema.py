"""The one policy schema: ``policy=small|mllm`` for PPO, ``PolicyConfig`` (the same keys) for SFT and the policy."""

from __future__ import annotations

import dataclasses

import pytest

from gea.agents.config import LoraConfig, MLLMPolicyConfig, PolicyConfig, SmallPolicyConfig
from gea.config import load_job_config
from gea.errors import ConfigError
from gea.train.ppo.config import PPOConfig
from gea.train.sft.config import SFTConfig


def test_mllm_choice_has_every_policy_config_key() -> None:
    policy_keys = {item.name for item in dataclasses.fields(PolicyConfig)}
    assert policy_keys | {"path"} == {item.name for item in dataclasses.fields(MLLMPolicyConfig)}
    ppo = load_job_config("ppo", PPOConfig, ["policy=mllm", "policy.lora.enabled=true", "policy.lora.rank=8"])
    sft = load_job_config("sft", SFTConfig, ["policy.lora.enabled=true", "policy.lora.rank=8"])
    assert isinstance(ppo.policy, MLLMPolicyConfig) and ppo.policy.policy_config() == sft.policy


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [([], SmallPolicyConfig), (["policy=mllm"], MLLMPolicyConfig), (["ppo_recipe@_global_=gea"], MLLMPolicyConfig),
     (["ppo_recipe@_global_=procgen"], SmallPolicyConfig)],
)  # fmt: skip
def test_recipes_pick_the_policy_kind(overrides: list[str], kind: type) -> None:
    assert type(load_job_config("ppo", PPOConfig, overrides).policy) is kind


def test_a_checkpoint_keeps_its_settings_but_those_set() -> None:
    lora = LoraConfig(enabled=True, rank=16)
    assert MLLMPolicyConfig(path="ckpt", lora=lora).checkpoint_overrides() == {"lora": lora}
    overrides = MLLMPolicyConfig(path="ckpt", context=5, temperature=0.5).checkpoint_overrides()
    assert overrides == {"context": 5, "temperature": 0.5, "lora": LoraConfig()}
    with pytest.raises(ConfigError, match="keep one of them"):
        MLLMPolicyConfig(path="ckpt", model="org/model").checkpoint_overrides()
