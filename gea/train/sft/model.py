"""The SFT forward pass: the policy's backbone on a collated batch, cross-entropy on the action tokens only."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gea.agents.backbone import Backbone
from gea.train.sft.batching import IGNORE, SFTBatch


@dataclass
class SFTOutput:
    """Summed cross-entropy over the batch's action tokens, and per-token results for metrics."""

    loss_sum: torch.Tensor
    correct: torch.Tensor  # bool, one per action token (argmax over the vocabulary == label)
    token_rows: torch.Tensor  # the batch row of each action token


class SFTModel(nn.Module):
    """Wraps a policy's ``Backbone`` so that DDP/FSDP see one module whose forward returns the SFT loss."""

    def __init__(self, backbone: Backbone, bf16: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.bf16 = bf16

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        """bf16 autocast on CUDA when configured; CPU stays float32."""
        if self.bf16 and device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def forward(
        self,
        ids: torch.Tensor,
        image_mask: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        images: torch.Tensor,
        image_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(summed cross-entropy over labelled tokens, per-token correctness, per-token row) of one batch."""
        backbone = self.backbone
        with self.autocast(ids.device):
            embeds = backbone.embed(ids)
            features = backbone.image_features(images[image_valid]).reshape(-1, embeds.shape[-1])
            embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), features.to(embeds.dtype))
            positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
            hidden, _ = backbone.decode_hidden(embeds, attention_mask, positions)
            # position t predicts token t + 1: only the positions before a labelled token reach the output head
            targets = labels[:, 1:]
            selected = targets != IGNORE
            logits = backbone.logits(hidden[:, :-1][selected])
        wanted = targets[selected]
        loss_sum = F.cross_entropy(logits.float(), wanted, reduction="sum")
        correct = logits.argmax(-1) == wanted
        rows = torch.nonzero(selected)[:, 0]
        return loss_sum, correct, rows


def sft_forward(model: nn.Module, batch: SFTBatch) -> SFTOutput:
    """Run ``model`` (an ``SFTModel``, possibly wrapped by DDP/FSDP) on ``batch``."""
    loss_sum, correct, rows = model(
        batch.ids, batch.image_mask, batch.attention_mask, batch.labels, batch.images, batch.image_valid
    )
    return SFTOutput(loss_sum, correct, rows)
