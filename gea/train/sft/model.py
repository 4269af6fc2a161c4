"""The SFT forward pass: the policy's backbone on a collated batch, cross-entropy on the action tokens only.

With ``shared_prefix`` each distinct header of the batch runs once and every row's window attends to its header's
keys/values (same loss and gradients as running every full row, which is what the model does otherwise).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gea.agents.backbone import Backbone
from gea.agents.header_cache import decode_after_headers, header_states
from gea.train.sft.batching import IGNORE, SFTBatch, join_headers


@dataclass
class SFTOutput:
    """Summed cross-entropy over the batch's action tokens, and per-token results for metrics."""

    loss_sum: torch.Tensor
    correct: torch.Tensor  # bool, one per action token (argmax over the vocabulary == label)
    token_rows: torch.Tensor  # the batch row of each action token


class SFTModel(nn.Module):
    """Wraps a policy's ``Backbone`` so that DDP/FSDP see one module whose forward returns the SFT loss."""

    def __init__(self, backbone: Backbone, bf16: bool = False, shared_prefix: bool = True) -> None:
        super().__init__()
        self.backbone = backbone
        self.bf16 = bf16
        self.shared_prefix = shared_prefix

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
        header_ids: torch.Tensor,
        header_lengths: torch.Tensor,
        header_index: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(summed cross-entropy over labelled tokens, per-token correctness, per-token row) of one batch
        (``SFTBatch.model_inputs``)."""
        backbone = self.backbone
        if not self.shared_prefix:
            ids, image_mask, attention_mask, labels = join_headers(
                header_ids, header_lengths, header_index, ids, image_mask, attention_mask, labels
            )
        with self.autocast(ids.device):
            embeds = backbone.embed(ids)
            features = backbone.image_features(images[image_valid]).reshape(-1, embeds.shape[-1])
            embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), features.to(embeds.dtype))
            positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
            if self.shared_prefix:
                lengths = header_lengths.tolist()
                headers = [row[:length].tolist() for row, length in zip(header_ids, lengths, strict=True)]
                states = header_states(backbone, headers)
                rows = [states[index] for index in header_index.tolist()]
                hidden = decode_after_headers(backbone, rows, embeds, attention_mask, positions)
            else:
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
    loss_sum, correct, rows = model(*batch.model_inputs())
    return SFTOutput(loss_sum, correct, rows)
