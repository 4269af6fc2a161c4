"""Shared prompt headers: running each distinct header once (and a prefix that several headers share once) gives the
same scores and gradients as full prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import DynamicCache

import gea.envs
from gea.agents import GEAPolicy, PolicyConfig
from gea.agents.header_cache import distinct_headers, header_states, length_groups, prefix_families, window_groups

ENVS = ["babyai:GoToLocal", "metaworld:reach-v3", "babyai-skills:PutNextLocal", "babyai:GoToLocal"]
INSTRUCTIONS = ["go to the red ball", "reach the goal", "put the red key next to the box", "go to the blue key"]


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


PREFIX = list(range(100, 160))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([[*PREFIX, 1], [*PREFIX, 2, 3], [*PREFIX, 4]], [(60, [0, 1, 2])]),  # instructions after one env's text
        ([[*PREFIX, 1], [7, 8, 9], [*PREFIX, 2]], [(60, [0, 2]), (3, [1])]),  # another env's header stays alone
        ([PREFIX, [*PREFIX, 5]], [(59, [0, 1])]),  # a header that is another's prefix keeps one token of its own
        ([[1, 2, 3], [1, 2, 4]], [(3, [0]), (3, [1])]),  # a short shared prefix is not worth a model call
        ([[1], [1]], [(1, [0]), (1, [1])]),
    ],
)
def test_prefix_families(headers: list[list[int]], expected: list[tuple[int, list[int]]]) -> None:
    families = prefix_families(headers)
    assert sorted((shared, sorted(members)) for shared, members in families) == sorted(expected)
    for shared, members in families:
        assert all(headers[index][:shared] == headers[members[0]][:shared] for index in members)
        assert len(members) == 1 or all(len(headers[index]) > shared for index in members)


def test_header_states_with_shared_prefixes_match_each_header_run_alone() -> None:
    policy = GEAPolicy.build(PolicyConfig(), ENVS)
    specs = [gea.envs.spec(env) for env in ENVS]
    headers = [policy.prompts.header_ids(spec, text) for spec, text in zip(specs, INSTRUCTIONS, strict=True)]
    assert any(len(members) > 1 for _, members in prefix_families(headers))  # the two GoToLocal headers share
    backbone = policy.backbone
    shared = header_states(backbone, headers)
    for header, states in zip(headers, shared, strict=True):
        cache = DynamicCache(config=backbone.model.config.text_config)
        ids = torch.tensor([header])
        backbone.decode_hidden(backbone.embed(ids), torch.ones_like(ids), torch.arange(len(header))[None], cache)
        for (keys, values), layer in zip(states, cache.layers, strict=True):
            torch.testing.assert_close(keys, layer.keys, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(values, layer.values, rtol=1e-5, atol=1e-5)


def test_window_groups_cover_every_row_and_its_tokens() -> None:
    mask = torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0], [0, 1, 1, 1, 1, 0]])
    groups, spans = window_groups([10, 10, 300, 12], mask)
    assert sorted(row for group in groups for row in group) == [0, 1, 2, 3]
    for group, (low, high) in zip(groups, spans, strict=True):
        for row in group:
            real = mask[row].nonzero()[:, 0]
            assert low <= int(real.min()) and int(real.max()) < high
    assert [2] in groups  # a long header pads no other row


@pytest.mark.parametrize("vision", ["efficientnet_lite0", "siglip"])
def test_evaluate_with_shared_headers_matches_full_prompts(vision: str) -> None:
    policy = GEAPolicy.build(PolicyConfig(context=2, vision=vision), ENVS)
    rng = np.random.default_rng(0)
    for _ in range(2):
        observations = [
            {"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": text} for text in INSTRUCTIONS
        ]
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
    for name in ("decode_hidden", "decode_last"):  # the header runs whole, the window and action tokens lean
        decode = getattr(policy.backbone, name)
        monkeypatch.setattr(policy.backbone, name, lambda *a, decode=decode, **k: calls.append(1) or decode(*a, **k))
    rng = np.random.default_rng(1)
    observations = [{"image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), "instruction": "go"} for _ in envs]
    out = policy.act(observations, envs)
    end = policy.text_tokenizer.eos_token_id
    assert all(ids[-1] == end for ids in out.token_ids)
    # the header, the observation window, then every emitted token but the last two (the last one is never fed back)
    assert len(calls) == 2 + max(len(ids) for ids in out.token_ids) - 2
    torch.testing.assert_close(policy.evaluate(out.prompts, out.token_ids).log_prob, out.log_prob, rtol=1e-4, atol=1e-4)
