"""Collate dataset windows into model inputs: the policy's prompt followed by the target action's tokens.

Each window becomes exactly the prompt the policy sees when acting (``gea.agents.prompt``): header, then the
episode's last observations (padding before the episode start is dropped, as at the start of an episode while
acting) interleaved with the expert's encoded past actions, then the target action's token ids. Only those
target tokens carry a label; everything else is context.

A batch keeps the header apart from the rest of each row: the distinct headers once (``headers``) and each row's
observation window + target (``ids``...), so the model can run every distinct header once (``SFTModel``);
``SFTBatch.joined`` gives the full rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gea.agents.actions import ActionCodec
from gea.agents.header_cache import distinct_headers
from gea.agents.prompt import PromptBuilder, PromptRecord

IGNORE = -100


@dataclass
class SFTBatch:
    """A left-padded batch of rows without their headers: ``ids`` (image slots hold the pad id), ``image_mask``,
    ``attention_mask``, ``labels`` (the target action ids at their positions, ``IGNORE`` elsewhere), ``images``
    (each row's observations, uint8 B x c x H x W x 3, zero-padded after a row's last one), ``image_valid`` (B x c,
    which of them are real), ``embodiments`` (the env id of each row); the distinct headers, right-padded
    (``header_ids``, H x L, with ``header_lengths``), and ``header_index`` (B: each row's header)."""

    ids: torch.Tensor
    image_mask: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor
    image_valid: torch.Tensor
    embodiments: list[str]
    header_ids: torch.Tensor
    header_lengths: torch.Tensor
    header_index: torch.Tensor

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
            self.header_ids.to(device),
            self.header_lengths.to(device),
            self.header_index.to(device),
        )

    def joined(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The full left-padded rows, header then window: ids, image mask, attention mask, labels."""
        return join_headers(
            self.header_ids,
            self.header_lengths,
            self.header_index,
            self.ids,
            self.image_mask,
            self.attention_mask,
            self.labels,
        )

    def model_inputs(self) -> tuple[torch.Tensor, ...]:
        """The tensors ``SFTModel.forward`` takes, in order."""
        return (
            self.ids,
            self.image_mask,
            self.attention_mask,
            self.labels,
            self.images,
            self.image_valid,
            self.header_ids,
            self.header_lengths,
            self.header_index,
        )


def join_headers(
    header_ids: torch.Tensor,
    header_lengths: torch.Tensor,
    header_index: torch.Tensor,
    ids: torch.Tensor,
    image_mask: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full left-padded rows (header then window): ids, image mask, attention mask and labels."""
    lengths = header_lengths[header_index] + attention_mask.sum(-1)
    width = int(lengths.max())
    count = ids.shape[0]
    full_ids = torch.full((count, width), 0, dtype=ids.dtype, device=ids.device)
    full_image = torch.zeros(count, width, dtype=torch.bool, device=ids.device)
    full_attention = torch.zeros(count, width, dtype=attention_mask.dtype, device=ids.device)
    full_labels = torch.full((count, width), IGNORE, dtype=labels.dtype, device=ids.device)
    for row in range(count):
        header = header_ids[header_index[row], : header_lengths[header_index[row]]]
        keep = attention_mask[row].bool()
        start = width - int(lengths[row])
        full_ids[row, start:] = torch.cat([header, ids[row, keep]])
        full_image[row, start + len(header) :] = image_mask[row, keep]
        full_attention[row, start:] = 1
        full_labels[row, start + len(header) :] = labels[row, keep]
    return full_ids, full_image, full_attention, full_labels


def resized_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (N, H, W, 3) frames at ``size`` (embodiments recorded at different image sizes share one batch; the
    vision tower resizes to its own input size the same way, bilinear with antialiasing)."""
    if tuple(frames.shape[1:3]) == tuple(size):
        return frames
    pixels = F.interpolate(frames.permute(0, 3, 1, 2).float(), size=size, mode="bilinear", antialias=True)
    return pixels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


class SFTCollator:
    """Turns ``WindowDataset`` samples into an ``SFTBatch`` with the policy's prompt layout and action codec."""

    def __init__(self, prompts: PromptBuilder, codec: ActionCodec) -> None:
        self.prompts = prompts
        self.codec = codec

    def encode_window(
        self, window: Mapping[str, Any]
    ) -> tuple[list[int], list[int], list[bool], list[int], np.ndarray]:
        """Header ids, then ids, image-slot flags and labels of the window + target, and its (unpadded) images."""
        record, target = PromptRecord.from_window(window, self.prompts, self.codec)
        ids, slots = self.prompts.layout(record, with_header=False)
        labels = [IGNORE] * len(ids) + list(target)
        return record.header_ids, ids + list(target), slots + [False] * len(target), labels, record.images

    def __call__(self, windows: Sequence[Mapping[str, Any]]) -> SFTBatch:
        """Collate ``windows`` into one left-padded batch."""
        encoded = [self.encode_window(window) for window in windows]
        headers, header_index = distinct_headers([header for header, *_ in encoded])
        header_lengths = torch.tensor([len(header) for header in headers])
        header_ids = torch.full((len(headers), int(header_lengths.max())), self.prompts.pad_id, dtype=torch.long)
        for row, header in enumerate(headers):
            header_ids[row, : len(header)] = torch.tensor(header)
        encoded_rows = [rest for _, *rest in encoded]
        length = max(len(ids) for ids, _, _, _ in encoded_rows)
        count = len(encoded)
        ids = torch.full((count, length), self.prompts.pad_id, dtype=torch.long)
        image_mask = torch.zeros(count, length, dtype=torch.bool)
        attention = torch.zeros(count, length, dtype=torch.long)
        labels = torch.full((count, length), IGNORE, dtype=torch.long)
        for row, (row_ids, row_slots, row_labels, _) in enumerate(encoded_rows):
            start = length - len(row_ids)
            ids[row, start:] = torch.tensor(row_ids)
            image_mask[row, start:] = torch.tensor(row_slots)
            attention[row, start:] = 1
            labels[row, start:] = torch.tensor(row_labels)
        most = max(len(images) for _, _, _, images in encoded_rows)
        shapes = [images.shape[1:3] for _, _, _, images in encoded_rows]
        side = (max(height for height, _ in shapes), max(width for _, width in shapes))
        images = torch.zeros((count, most, *side, 3), dtype=torch.uint8)
        valid = torch.zeros(count, most, dtype=torch.bool)
        for row, (_, _, _, row_images) in enumerate(encoded_rows):
            images[row, : len(row_images)] = resized_frames(torch.from_numpy(row_images), side)
            valid[row, : len(row_images)] = True
        embodiments = [str(window["embodiment"]) for window in windows]
        return SFTBatch(
            ids,
            image_mask,
            attention,
            labels,
            images,
            valid,
            embodiments,
            header_ids,
            header_lengths,
            torch.tensor(header_index),
        )
