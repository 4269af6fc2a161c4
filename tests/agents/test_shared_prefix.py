"""Shared prompt headers: running each distinct header once gives the same scores and gradients as full prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gea.agents import GEAPolicy, PolicyConfig
from gea.agents.header_cache import distinct_headers, length_groups

ENVS = ["babyai:GoToLocal", "metaworld:reach-v3", "babyai-skills:PutNextLocal", "babyai:GoToLocal"]


@pytest.mark.parametrize("lengths", [[5], [100, 104, 110, 671], [3, 3, 3], [671, 77, 129, 104, 118, 120]])
def test_length_groups_cover_every_index_with_bounded_padding(lengths: list[int]) -> None:
    groups = length_groups(lengths)
    assert sorted(index for group in groups for index in group) == list(range(len(lengths)))
    for group in groups:
        sizes = [lengths[index] for index in group]
        assert max(sizes) * len(sizes) <= 1.25 * sum(sizes) or len(sizes) == 1


def test_distinct_headers_map_rows() -> None:
    headers, rows = distinct_headers([[1, 2], [3], [1, 2], [4, 5, 6]])
    assert headers == [[1, 2], [3], [4, 5, 6]]
    assert rows == [0, 1, 0, 2]


@pytest.mark.parametrize("vision", ["efficientnet_lite0", "siglip"])
def test_evaluate_with_shared_headers_matches_full_prompts(vision: str) -> None:
    policy = GEAPolicy.build(PolicyConfig(context=2, vision=vision), ENVS)
    rng = np.random.default_rng(0)
    for _ in range(2):
        observations = [{"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": "go"} for _ in ENVS]
        out = policy.act(observations, ENVS)
    parameters = [parameter for parameter in policy.parameters() if parameter.requires_grad]
    results = {}
    for shared in (True, False):
        policy.config.shared_prefix = shared
        evaluated = policy.evaluate(out.prompts, out.token_ids)
        loss = evaluated.log_prob.sum() + evaluated.entropy.sum() + evaluated.value.sum()
        results[shared] = (evaluated, torch.autograd.grad(loss, parameters, allow_unused=True))
    (fast, fast_grads), (plain, plain_grads) = results[True], results[False]
    torch.testing.assert_close(fast.log_prob, plain.log_prob, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.entropy, plain.entropy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.value, plain.value, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.log_prob, out.log_prob, rtol=1e-4, atol=1e-4)
    for fast_grad, plain_grad in zip(fast_grads, plain_grads, strict=True):
        assert (fast_grad is None) == (plain_grad is None)
        if fast_grad is not None:
            torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-3, atol=1e-5)


def test_forced_last_token_needs_no_model_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a whole action name only the end token is valid: it is appended without running the model."""
    envs = ["babyai:GoToLocal"] * 3
    policy = GEAPolicy.build(PolicyConfig(context=1), envs)
    calls = []
    decode = policy.backbone.decode_hidden
    monkeypatch.setattr(policy.backbone, "decode_hidden", lambda *a, **k: calls.append(1) or decode(*a, **k))
    rng = np.random.default_rng(1)
    observations = [{"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": "go"} for _ in envs]
    out = policy.act(observations, envs)
    end = policy.text_tokenizer.eos_token_id
    assert all(ids[-1] == end for ids in out.token_ids)
    # the header, the observation window, then every emitted token but the last two (the last one is never fed back)
    assert len(calls) == 2 + max(len(ids) for ids in out.token_ids) - 2
    torch.testing.assert_close(policy.evaluate(out.prompts, out.token_ids).log_prob, out.log_prob, rtol=1e-4, atol=1e-4)
