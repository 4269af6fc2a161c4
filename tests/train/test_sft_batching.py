"""Collation: each window becomes the policy's own prompt plus the target action, with labels on action tokens only."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sft_helpers import expert_datasets, tiny_config

import gea.envs
from gea.agents import PolicyConfig
from gea.agents.prompt import PromptRecord
from gea.rollouts.dataset import WindowDataset
from gea.train.distributed import DistributedContext
from gea.train.sft.batching import IGNORE, resized_frames
from gea.train.sft.model import sft_forward
from gea.train.sft.trainer import SFTTrainer


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> SFTTrainer:
    paths = expert_datasets(tmp_path_factory)
    return SFTTrainer(tiny_config(paths, tmp_path_factory.mktemp("batching")), DistributedContext())


def _windows(trainer: SFTTrainer, count: int) -> list[dict]:
    reader = WindowDataset(trainer.config.data.weighted_paths(), context=3, seed=1, rank=0, world_size=1)
    return list(itertools.islice(iter(reader), count))


def test_rows_are_the_acting_prompt_then_the_target_action(trainer: SFTTrainer) -> None:
    windows = _windows(trainer, 12)
    assert {window["embodiment"] for window in windows} == set(trainer.embodiments)
    assert any(not window["mask"].all() for window in windows)  # some windows start at an episode's first steps
    batch = trainer.collator(windows)
    full_ids, full_image_mask, full_attention, full_labels = batch.joined()
    codec, prompts = trainer.policy.codec, trainer.policy.prompts
    for row, window in enumerate(windows):
        spec = gea.envs.spec(window["embodiment"])
        kept = [action for action, valid in zip(window["actions"], window["mask"], strict=True) if valid]
        encoded = [codec.encode(spec, action) for action in kept]
        record = PromptRecord(
            spec.id, 0, prompts.header_ids(spec, window["instruction"]), window["images"][window["mask"]], encoded[:-1]
        )
        acting = prompts.batch([record], torch.device("cpu"))
        length = int(full_attention[row].sum())
        ids = full_ids[row, -length:]
        prompt_length = length - len(encoded[-1])
        assert ids[:prompt_length].tolist() == acting.ids[0].tolist()
        assert full_image_mask[row, -length:][:prompt_length].tolist() == acting.image_mask[0].tolist()
        labels = full_labels[row]
        assert labels[labels != IGNORE].tolist() == encoded[-1]
        assert (labels[-len(encoded[-1]) :] == ids[prompt_length:]).all()
    assert batch.image_valid.sum(1).tolist() == [int(window["mask"].sum()) for window in windows]
    for row, window in enumerate(windows):
        kept = window["images"][window["mask"]]
        assert torch.equal(batch.images[row, : len(kept)], torch.from_numpy(kept))
    assert batch.num_action_tokens == sum(
        len(codec.encode(gea.envs.spec(w["embodiment"]), w["target_action"])) for w in windows
    )


def test_loss_is_cross_entropy_on_the_action_tokens_only(trainer: SFTTrainer) -> None:
    batch = trainer.collator(_windows(trainer, 6))
    ids, image_mask, attention_mask, labels = batch.joined()
    with torch.no_grad():
        output = sft_forward(trainer.model, batch)
        backbone = trainer.policy.backbone
        embeds = backbone.embed(ids)
        features = backbone.image_features(batch.images[batch.image_valid]).reshape(-1, embeds.shape[-1])
        embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), features)
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        hidden, _ = backbone.decode_hidden(embeds, attention_mask, positions)
        logits = backbone.logits(hidden)  # every position, as a plain causal LM would score them
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    torch.testing.assert_close(output.loss_sum, expected, rtol=1e-4, atol=1e-4)
    assert output.correct.shape == (batch.num_action_tokens,)
    assert 0 < batch.num_action_tokens < int(attention_mask.sum()) // 10


@pytest.mark.parametrize("vision", ["efficientnet_lite0", "siglip"])
def test_shared_headers_give_the_same_loss_and_gradients(
    tmp_path_factory: pytest.TempPathFactory, trainer: SFTTrainer, vision: str
) -> None:
    """The fast path (each distinct header once, cached frozen features) computes the plain path's loss."""
    paths = expert_datasets(tmp_path_factory)
    config = tiny_config(paths, tmp_path_factory.mktemp("shared"), policy=PolicyConfig(vision=vision, context=3))
    shared = SFTTrainer(config, DistributedContext())
    batch = shared.collator(_windows(trainer, 12))
    assert len(batch.header_ids) < len(batch.embodiments)  # some rows share a header
    parameters = [parameter for parameter in shared.model.parameters() if parameter.requires_grad]
    results = []
    for fast in (True, False):
        shared.model.shared_prefix = fast
        output = sft_forward(shared.model, batch)
        results.append((output, torch.autograd.grad(output.loss_sum, parameters, allow_unused=True)))
    (fast, fast_grads), (plain, plain_grads) = results
    torch.testing.assert_close(fast.loss_sum, plain.loss_sum, rtol=1e-5, atol=1e-5)
    assert torch.equal(fast.correct, plain.correct) and torch.equal(fast.token_rows, plain.token_rows)
    for fast_grad, plain_grad in zip(fast_grads, plain_grads, strict=True):
        assert (fast_grad is None) == (plain_grad is None)
        if fast_grad is not None:
            torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-3, atol=1e-5)


def test_embodiments_recorded_at_different_image_sizes_share_a_batch(trainer: SFTTrainer) -> None:
    """A suite may record one task at 64 px and the others at 32 px: the batch holds every frame at the largest size,
    resized as the vision tower resizes (bilinear, antialiased), and the loss is finite."""
    windows = _windows(trainer, 6)
    small = windows[0]["images"].shape[1]
    large = dict(windows[0], images=np.kron(windows[0]["images"], np.ones((1, 2, 2, 1), dtype=np.uint8)))
    batch = trainer.collator([large, *windows[1:]])
    assert tuple(batch.images.shape[2:4]) == (2 * small, 2 * small)
    kept = windows[1]["images"][windows[1]["mask"]]
    expected = resized_frames(torch.from_numpy(kept), (2 * small, 2 * small))
    assert torch.equal(batch.images[1, : len(kept)], expected)
    assert torch.equal(resized_frames(expected, (2 * small, 2 * small)), expected)  # the right size stays as it is
    with torch.no_grad():
        loss = sft_forward(trainer.model, batch).loss_sum
    assert torch.isfinite(loss)
