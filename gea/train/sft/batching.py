"""Collate dataset windows into model inputs: the policy's prompt followed by the target action's tokens.

Each window becomes exactly the prompt the policy sees when acting (``gea.agents.prompt``): header, then the
episode's last observations (padding before the episode start is dropped, as at the start of an episode while
acting) interleaved with the expert's encoded past actions, then the target action's token ids. Only those
target tokens carry a label; everything else is context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gea.agents.actions import ActionCodec
from gea.agents.prompt import PromptBuilder, PromptRecord

IGNORE = -100


@dataclass
class SFTBatch:
    """A left-padded batch: ``ids`` (image slots hold the pad id), ``image_mask``, ``attention_mask``,
    ``labels`` (the target action ids at their positions, ``IGNORE`` elsewhere), ``images`` (each row's
    observations, uint8 B x c x H x W x 3, zero-padded after a row's last one), ``image_valid`` (B x c, which
    of them are real) and ``embodiments`` (the env id of each row). Every tensor has the batch first, so
    loaders that slice batches along dim 0 (e.g. ``accelerate``) keep rows intact."""

    ids: torch.Tensor
    image_mask: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor
    image_valid: torch.Tensor
    embodiments: list[str]

    @property
    def num_action_tokens(self) -> int:
        """How many tokens carry a label."""
        return int((self.labels != IGNORE).sum())

    def to(self, device: torch.device) -> SFTBatch:
        """The same batch on ``device``."""
        return SFTBatch(
            self.ids.to(device),
            self.image_mask.to(device),
            self.attention_mask.to(device),
            self.labels.to(device),
            self.images.to(device),
            self.image_valid.to(device),
            self.embodiments,
        )


class SFTCollator:
    """Turns ``WindowDataset`` samples into an ``SFTBatch`` with the policy's prompt layout and action codec."""

    def __init__(self, prompts: PromptBuilder, codec: ActionCodec) -> None:
        self.prompts = prompts
        self.codec = codec

    def encode_window(self, window: Mapping[str, Any]) -> tuple[list[int], list[bool], list[int], np.ndarray]:
        """Ids, image-slot flags and labels of one window's sequence, and its (unpadded) images."""
        record, target = PromptRecord.from_window(window, self.prompts, self.codec)
        ids, slots = self.prompts.layout(record)
        labels = [IGNORE] * len(ids) + list(target)
        return ids + list(target), slots + [False] * len(target), labels, record.images

    def __call__(self, windows: Sequence[Mapping[str, Any]]) -> SFTBatch:
        """Collate ``windows`` into one left-padded batch."""
        encoded = [self.encode_window(window) for window in windows]
        length = max(len(ids) for ids, _, _, _ in encoded)
        count = len(encoded)
        ids = torch.full((count, length), self.prompts.pad_id, dtype=torch.long)
        image_mask = torch.zeros(count, length, dtype=torch.bool)
        attention = torch.zeros(count, length, dtype=torch.long)
        labels = torch.full((count, length), IGNORE, dtype=torch.long)
        for row, (row_ids, row_slots, row_labels, _) in enumerate(encoded):
            start = length - len(row_ids)
            ids[row, start:] = torch.tensor(row_ids)
            image_mask[row, start:] = torch.tensor(row_slots)
            attention[row, start:] = 1
            labels[row, start:] = torch.tensor(row_labels)
        most = max(len(images) for _, _, _, images in encoded)
        first = encoded[0][3]
        images = torch.zeros((count, most, *first.shape[1:]), dtype=torch.uint8)
        valid = torch.zeros(count, most, dtype=torch.bool)
        for row, (_, _, _, row_images) in enumerate(encoded):
            images[row, : len(row_images)] = torch.from_numpy(row_images)
            valid[row, : len(row_images)] = True
        embodiments = [str(window["embodiment"]) for window in windows]
        return SFTBatch(ids, image_mask, attention, labels, images, valid, embodiments)
