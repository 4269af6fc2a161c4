"""The MLLM PPO update's fast paths give what the plain path gives: the joint SFT windows scored in the minibatch's
model call, headers sharing a prefix, the output head on the valid positions and allowed ids only, the start
policy's kept header states, and acting with the adapters merged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import gea.envs
from gea.agents import GEAPolicy, PolicyConfig
from gea.agents.config import LoraConfig
from gea.agents.constraints import entropy_of, masked_log_probs
from gea.spec import DiscreteActions
from gea.train.ppo.mllm_agent import MLLMAgent

ENV = "babyai:GoToLocal"
INSTRUCTIONS = ["go to the red ball", "go to the blue key", "go to the green box", "go to the red ball"]
WINDOW_ENVS = ["babyai:GoToLocal", "metaworld:reach-v3", "babyai-skills:PutNextLocal", "procgen:coinrun"]


def _agent(lora: bool = True) -> MLLMAgent:
    config = PolicyConfig(context=1, lora=LoraConfig(enabled=lora, rank=4, alpha=8))
    policy = GEAPolicy.build(config, [ENV, *WINDOW_ENVS])
    return MLLMAgent(policy, [ENV] * len(INSTRUCTIONS), torch.device("cpu"))


def _perturb_adapters(agent: MLLMAgent, seed: int = 0) -> None:
    """Non-zero LoRA adapters (as after some updates), so adapters affect every score."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in agent.policy.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
    agent.after_update()


def _rollout(agent: MLLMAgent, steps: int = 3) -> list[tuple[Any, list[int]]]:
    rng = np.random.default_rng(0)
    inputs = []
    for _ in range(steps):
        observations = [
            {"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": text} for text in INSTRUCTIONS
        ]
        inputs += agent.act(observations).inputs
    return inputs


def _windows() -> list[dict[str, Any]]:
    """Dataset windows (as ``WindowDataset`` yields them) of discrete, continuous and long-header embodiments."""
    rng = np.random.default_rng(1)
    windows = []
    for env_id in WINDOW_ENVS:
        space = gea.envs.spec(env_id).action
        if isinstance(space, DiscreteActions):
            actions: Any = np.array([rng.integers(space.n)])
        else:
            actions = rng.uniform(-1, 1, (1, space.dim)).astype(np.float32)
        windows.append(
            {
                "embodiment": env_id,
                "mask": np.array([True]),
                "actions": actions,
                "images": rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8),
                "instruction": "put the red key next to the box" if "skills" in env_id else "",
            }
        )
    return windows


def _grads(agent: MLLMAgent, loss: torch.Tensor) -> list[torch.Tensor | None]:
    parameters = [parameter for parameter in agent.policy.parameters() if parameter.requires_grad]
    return list(torch.autograd.grad(loss, parameters, allow_unused=True))


def _assert_same_grads(first: list[torch.Tensor | None], second: list[torch.Tensor | None]) -> None:
    for one, other in zip(first, second, strict=True):
        assert (one is None) == (other is None)
        if one is not None:
            torch.testing.assert_close(one, other, rtol=1e-3, atol=1e-5)


def test_joint_sft_scoring_matches_separate_plain_calls() -> None:
    agent = _agent()
    _perturb_adapters(agent)
    inputs, windows = _rollout(agent), _windows()
    evaluated, sft = agent.evaluate_with_sft(inputs, windows)
    fast = _grads(agent, evaluated.log_prob.sum() + evaluated.entropy.sum() + evaluated.value.sum() + sft)
    agent.policy.config.shared_prefix = False  # every row's full prompt, the whole vocabulary's logits
    plain_eval, plain_sft = agent.evaluate(inputs), agent.sft_loss(windows)
    plain = _grads(agent, plain_eval.log_prob.sum() + plain_eval.entropy.sum() + plain_eval.value.sum() + plain_sft)
    torch.testing.assert_close(evaluated.log_prob, plain_eval.log_prob, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(evaluated.entropy, plain_eval.entropy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(evaluated.value, plain_eval.value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sft, plain_sft, rtol=1e-5, atol=1e-5)
    _assert_same_grads(fast, plain)


def test_action_scores_equal_the_whole_vocabulary() -> None:
    agent = _agent(lora=False)
    policy = agent.policy
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 4, policy.backbone.hidden_size, generator=generator)
    vocab = policy.backbone.vocab_size
    mask = torch.rand(3, 4, vocab, generator=generator) < 0.01
    mask[..., 7] = True  # every position may emit something
    actions = torch.full((3, 4), 7)
    actions[0, 1], actions[2, 0] = int(mask[0, 1].nonzero()[-1]), int(mask[2, 0].nonzero()[0])
    valid = torch.tensor([[True, True, False, False], [True, False, False, False], [True, True, True, True]])
    log_prob, entropy = policy._action_scores(hidden, mask, actions, valid)
    log_probs = masked_log_probs(policy.backbone.logits(hidden), mask | ~valid[..., None], policy.config.temperature)
    taken = log_probs.gather(-1, actions[..., None]).squeeze(-1)
    torch.testing.assert_close(log_prob, torch.where(valid, taken, 0.0).sum(-1))
    torch.testing.assert_close(entropy, torch.where(valid, entropy_of(log_probs), 0.0).sum(-1))


def test_start_policy_scores_are_none_until_adapters_move_then_match_a_plain_pass() -> None:
    agent = _agent()
    inputs = _rollout(agent)
    assert agent.reference_log_prob(inputs) is None  # zero adapters: the policy is the start policy
    _perturb_adapters(agent)
    first = agent.reference_log_prob(inputs)
    again = agent.reference_log_prob(inputs)  # from the kept header states
    with torch.no_grad():
        for layer in agent._lora:
            layer.enable_adapters(False)
        plain = agent.policy.evaluate([record for record, _ in inputs], [ids for _, ids in inputs]).log_prob
        for layer in agent._lora:
            layer.enable_adapters(True)
        current = agent.policy.evaluate([record for record, _ in inputs], [ids for _, ids in inputs]).log_prob
    assert first is not None and again is not None
    torch.testing.assert_close(first, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(again, plain, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(current, plain, atol=1e-4)  # the adapters do change the policy


def test_start_policy_copy_without_lora_is_none_until_the_first_update() -> None:
    agent = _agent(lora=False)
    inputs = _rollout(agent, steps=1)
    assert agent.reference_log_prob(inputs) is None
    agent.after_update()
    reference = agent.reference_log_prob(inputs)
    assert reference is not None and reference.shape == (len(inputs),)


@pytest.mark.parametrize("steps", [1, 3])
def test_acting_with_merged_adapters_scores_what_evaluate_scores(steps: int) -> None:
    agent = _agent()
    _perturb_adapters(agent)
    rng = np.random.default_rng(2)
    for step in range(steps):
        observations = [
            {"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": text} for text in INSTRUCTIONS
        ]
        acted = agent.act(observations)
        evaluated = agent.evaluate(acted.inputs)
        torch.testing.assert_close(evaluated.log_prob, acted.log_prob, rtol=1e-4, atol=1e-4)
        if step == 0:
            _perturb_adapters(agent, seed=1)  # an update between rollouts: acting must see the new adapters


def test_critic_parameters_are_the_value_head_alone() -> None:
    agent = _agent()
    critic = {id(parameter) for parameter in agent.critic_parameters()}
    assert critic == {id(parameter) for parameter in agent.policy.value_head.parameters()}
    trained = [name for name, parameter in agent.policy.named_parameters() if parameter.requires_grad]
    assert any("lora_" in name for name in trained)  # the policy's own trainable weights are not the critic's
    assert all(id(parameter) not in critic for name, parameter in agent.policy.named_parameters() if "lora_" in name)
