"""The lean acting path (``Backbone.decode_last``) gives what running the whole decoder gives, on every tiny family."""

import copy
from typing import Any

import numpy as np
import pytest
import torch
from transformers import DynamicCache

import gea.envs
from gea.agents import GEAPolicy, PolicyConfig
from gea.agents.backbone import Backbone
from gea.agents.constraints import masked_log_probs
from gea.agents.header_cache import splice_states
from gea.agents.loading import TINY_MODELS
from gea.agents.prompt import PromptRecord

ENV_IDS = ["babyai:GoToRedBall", "metaworld:reach-v3", "procgen:coinrun", "cartpole"]
FAMILIES = [name for name in TINY_MODELS if name != "tiny-llava-onevision"]  # the same model as "tiny"


def _whole_decoder(backbone: Backbone) -> Any:
    """``decode_last`` as running the whole decoder (all positions through every layer) and keeping the last."""
    return lambda embeds, mask, positions, cache: backbone.decode_hidden(embeds, mask, positions, cache)[0][:, -1]


def _observations(step: int, count: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(step)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    return [{"image": image, "instruction": f"task {index % 2}"} for index, image in enumerate(images)]


@pytest.fixture(scope="module", params=FAMILIES)
def policy(request: pytest.FixtureRequest) -> GEAPolicy:
    torch.manual_seed(0)
    return GEAPolicy.build(PolicyConfig(model=request.param), ENV_IDS).eval()


def _cache_with_headers(backbone: Backbone, lengths: list[int]) -> tuple[DynamicCache, torch.Tensor]:
    """A KV cache holding random headers of ``lengths`` (left-padded) and its attention mask."""
    config = backbone.model.config.text_config
    heads, width = config.num_key_value_heads, config.hidden_size // config.num_attention_heads
    layers = len(backbone._decoder_layers())
    rows = [
        [(torch.randn(1, heads, length, width), torch.randn(1, heads, length, width)) for _ in range(layers)]
        for length in lengths
    ]
    layers, mask, _ = splice_states(rows, backbone.embed_device)
    return DynamicCache(ddp_cache_data=layers, config=config), mask


@pytest.mark.parametrize("new_tokens", [1, 7])
def test_decode_last_matches_the_whole_decoder(policy: GEAPolicy, new_tokens: int) -> None:
    backbone = policy.backbone
    assert backbone._lean_decoder  # the tiny Qwen2 and Llama decoders take the lean path
    torch.manual_seed(1)
    lengths = [5, 9, 9]
    embeds = torch.randn(len(lengths), new_tokens, backbone.hidden_size)
    window = torch.ones(len(lengths), new_tokens, dtype=torch.long)
    window[0, : new_tokens // 2] = 0  # a left-padded row
    positions = torch.tensor(lengths)[:, None] + (window.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        lean_cache, header_mask = _cache_with_headers(backbone, lengths)
        whole_cache = copy.deepcopy(lean_cache)
        attention = torch.cat([header_mask, window], dim=1)
        lean = backbone.decode_last(embeds, attention, positions, lean_cache)
        whole = _whole_decoder(backbone)(embeds, attention, positions, whole_cache)
    torch.testing.assert_close(lean, whole, rtol=1e-5, atol=1e-5)
    for lean_layer, whole_layer in zip(lean_cache.layers, whole_cache.layers, strict=True):
        torch.testing.assert_close(lean_layer.keys, whole_layer.keys, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(lean_layer.values, whole_layer.values, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("greedy", [True, False])
def test_act_matches_the_whole_decoder(policy: GEAPolicy, greedy: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same tokens, log-probs and values over an episode of mixed embodiments, greedy and sampled (same seed)."""
    env_ids = ENV_IDS * 2
    outputs = {}
    for name in ("lean", "whole"):
        if name == "whole":
            monkeypatch.setattr(policy.backbone, "decode_last", _whole_decoder(policy.backbone))
        policy.reset(None)
        torch.manual_seed(3)
        outputs[name] = [policy.act(_observations(step, len(env_ids)), env_ids, greedy) for step in range(4)]
    for lean, whole in zip(outputs["lean"], outputs["whole"], strict=True):
        assert lean.token_ids == whole.token_ids
        torch.testing.assert_close(lean.log_prob, whole.log_prob, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(lean.value, whole.value, rtol=1e-5, atol=1e-5)
    assert {len(ids) for ids in outputs["lean"][-1].token_ids} != {1}  # multi-token actions were decoded


def test_evaluate_gives_ratio_one_on_sampled_actions(policy: GEAPolicy) -> None:
    env_ids = ENV_IDS * 2
    policy.reset(None)
    torch.manual_seed(4)
    prompts: list[PromptRecord] = []
    actions: list[list[int]] = []
    log_probs = []
    for step in range(3):
        out = policy.act(_observations(10 + step, len(env_ids)), env_ids)
        prompts += out.prompts
        actions += out.token_ids
        log_probs.append(out.log_prob)
    with torch.no_grad():
        evaluated = policy.evaluate(prompts, actions)
    ratio = (evaluated.log_prob - torch.cat(log_probs)).exp()
    torch.testing.assert_close(ratio, torch.ones_like(ratio), rtol=1e-4, atol=1e-4)


def test_fitted_rvq_multi_token_codes_match_the_whole_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from gea.tokenizers.rvq import ResidualVQTokenizer, RVQTrainConfig
    from gea.tokenizers.rvq_model import RVQConfig

    actions = np.random.default_rng(0).uniform(-1, 1, (256, 4)).astype(np.float32)
    rvq = ResidualVQTokenizer(RVQConfig(codebook_size=64, kmeans_init=False), RVQTrainConfig(steps=20, batch_size=64))
    rvq.fit({"metaworld:reach-v3": actions}, progress=False)
    env_ids = ["metaworld:reach-v3", "babyai:GoToRedBall"] * 2
    policy = GEAPolicy.build(PolicyConfig(), env_ids, continuous=rvq).eval()
    outputs = {}
    for name in ("lean", "whole"):
        if name == "whole":
            monkeypatch.setattr(policy.backbone, "decode_last", _whole_decoder(policy.backbone))
        policy.reset(None)
        torch.manual_seed(5)
        outputs[name] = [policy.act(_observations(step, len(env_ids)), env_ids) for step in range(3)]
    for lean, whole in zip(outputs["lean"], outputs["whole"], strict=True):
        assert lean.token_ids == whole.token_ids
        assert len(lean.token_ids[0]) == 2  # two residual codes per Meta-World action
        torch.testing.assert_close(lean.log_prob, whole.log_prob, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(lean.value, whole.value, rtol=1e-5, atol=1e-5)


def test_complete_actions_allow_only_the_pad_id(policy: GEAPolicy) -> None:
    """A complete row may emit the pad id alone, so it decodes with log-prob exactly 0 next to unfinished rows."""
    spec_rule = policy.codec.allowed_next_fn(gea.envs.spec("cartpole"))
    complete: list[int] = []
    while spec_rule(complete).size:  # the first valid id until the action is complete
        complete.append(int(spec_rule(complete)[0]))
    pad = policy.prompts.pad_id
    mask = policy.masks.masks(["cartpole"] * 2, [spec_rule] * 2, [[], complete], policy.device, complete_id=pad)
    assert mask[1].nonzero().flatten().tolist() == [pad] and bool(mask[0].any()) and not bool(mask[0, pad])
    assert not policy.masks.masks(["cartpole"], [spec_rule], [complete], policy.device).any()
    log_probs = masked_log_probs(torch.randn(2, mask.shape[1]), mask)
    assert log_probs[1, pad].item() == 0.0
