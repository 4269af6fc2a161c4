"""LoRA, frozen vision tower, gradient checkpointing; a second model family through the same code path."""

from pathlib import Path

import numpy as np
import pytest
import torch

from gea.agents import GEAPolicy, LoraConfig, PolicyConfig

ENV_IDS = ["metaworld:reach-v3", "babyai:GoToRedBall"]


def _observations(step: int) -> list[dict[str, object]]:
    images = np.random.default_rng(step).integers(0, 256, (len(ENV_IDS), 32, 32, 3), dtype=np.uint8)
    return [{"image": image, "instruction": "reach the goal"} for image in images]


def _rollout(policy: GEAPolicy) -> tuple[list[list[int]], torch.Tensor]:
    policy.reset(None)
    out = policy.act(_observations(0), ENV_IDS, greedy=True)
    out = policy.act(_observations(1), ENV_IDS, greedy=True)
    return out.token_ids, policy.evaluate(out.prompts, out.token_ids).log_prob.detach()


@pytest.mark.parametrize("name", ["tiny-idefics3", "tiny-smolvlm"])
def test_other_model_families_act_and_evaluate_consistently(name: str) -> None:
    policy = GEAPolicy.build(PolicyConfig(model=name), ENV_IDS).eval()
    assert policy.backbone.family == name.removeprefix("tiny-")
    policy.reset(None)
    out = policy.act(_observations(0), ENV_IDS)
    out = policy.act(_observations(1), ENV_IDS)
    assert 0 <= out.actions[1] < 7 and out.actions[0].shape == (4,)
    evaluated = policy.evaluate(out.prompts, out.token_ids)
    torch.testing.assert_close(evaluated.log_prob.detach(), out.log_prob, rtol=1e-4, atol=1e-4)


def test_lora_checkpointing_and_frozen_vision(tmp_path: Path) -> None:
    lora = LoraConfig(enabled=True, rank=4, alpha=8, dropout=0.0)
    config = PolicyConfig(lora=lora, gradient_checkpointing=True, freeze_vision=True)
    policy = GEAPolicy.build(config, ENV_IDS)
    model = policy.backbone.model
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all("lora_" in name and "language_model" in name for name in trainable)
    assert not any(parameter.requires_grad for parameter in policy.backbone.vision.parameters())
    assert model.is_activation_checkpointing
    _, log_prob_before = _rollout(policy.eval())

    policy.train()
    policy.reset(None)
    out = policy.act(_observations(0), ENV_IDS)
    optimizer = torch.optim.SGD(list(policy.trainable_parameters()), lr=1.0)
    loss = -policy.evaluate(out.prompts, out.token_ids).log_prob.sum()
    loss.backward()
    optimizer.step()
    policy.invalidate_cache()
    tokens_trained, log_prob_trained = _rollout(policy.eval())

    policy.save_pretrained(tmp_path)
    assert not any("lora" in path.name for path in tmp_path.rglob("*"))
    loaded = GEAPolicy.from_pretrained(tmp_path).eval()
    assert any("lora_" in name for name, _ in loaded.backbone.model.named_parameters())
    tokens_loaded, log_prob_loaded = _rollout(loaded)
    assert tokens_loaded == tokens_trained
    torch.testing.assert_close(log_prob_loaded, log_prob_trained, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(log_prob_before, log_prob_trained)


def test_fitted_rvq_codes_live_in_the_reserved_block() -> None:
    from gea.tokenizers.rvq import ResidualVQTokenizer, RVQTrainConfig
    from gea.tokenizers.rvq_model import RVQConfig

    actions = np.random.default_rng(0).uniform(-1, 1, (256, 4)).astype(np.float32)
    rvq = ResidualVQTokenizer(RVQConfig(codebook_size=64, kmeans_init=False), RVQTrainConfig(steps=20, batch_size=64))
    rvq.fit({ENV_IDS[0]: actions}, progress=False)
    policy = GEAPolicy.build(PolicyConfig(), ENV_IDS, continuous=rvq).eval()
    out = policy.act(_observations(0), ENV_IDS)
    offset = policy.codec.tokenizer.code_offset
    assert len(out.token_ids[0]) == 2 and all(offset <= token < offset + 64 for token in out.token_ids[0])
    assert out.actions[0].shape == (4,) and np.all(np.abs(out.actions[0]) <= 1.0)
    assert offset >= len(policy.text_tokenizer)
