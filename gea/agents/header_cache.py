"""Shared prompt headers: each distinct header's key/value states are computed once and spliced into every row.

The text before the observations (agent, actions, simulator, camera, instruction) repeats across the rows of a batch
and across the steps of an episode, and is often far longer than the observation window (BabyAI skills list 79
skills). ``header_states`` runs each distinct header once (in length-bucketed groups, so a long header does not pad
the short ones), ``splice_states`` left-pads every row's header states into one KV cache, and
``decode_after_headers`` runs only the rows' windows on top of it. With gradients enabled the states keep their
autograd graph, so SFT and PPO get the same loss and gradients as running every full prompt. ``HeaderCache`` keeps
states across acting steps until the weights change.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from gea.agents.backbone import Backbone

LayerStates = list[tuple[torch.Tensor, torch.Tensor]]
HeaderKey = tuple[str, str]
PADDING_SLACK = 1.25  # a group of headers is padded to at most this multiple of its real tokens


def length_groups(lengths: Sequence[int], slack: float = PADDING_SLACK) -> list[list[int]]:
    """Indices of ``lengths`` in groups of similar length whose right-padded size stays within ``slack`` x their
    total length (shortest first)."""
    groups: list[list[int]] = []
    total = 0
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        group = groups[-1] if groups else None
        if group is not None and (len(group) + 1) * lengths[index] <= slack * (total + lengths[index]):
            group.append(index)
            total += lengths[index]
        else:
            groups.append([index])
            total = lengths[index]
    return groups


def header_states(backbone: Backbone, headers: Sequence[Sequence[int]]) -> list[LayerStates]:
    """Per-layer (key, value) states, (1, kv_heads, length, head_dim) each, of every header (differentiable)."""
    states: list[LayerStates | None] = [None] * len(headers)
    device = backbone.embed_device
    for group in length_groups([len(header) for header in headers]):
        length = max(len(headers[index]) for index in group)
        ids = torch.zeros(len(group), length, dtype=torch.long)
        attention = torch.zeros(len(group), length, dtype=torch.long)
        for row, index in enumerate(group):
            ids[row, : len(headers[index])] = torch.as_tensor(list(headers[index]))
            attention[row, : len(headers[index])] = 1
        positions = torch.arange(length, device=device).expand(len(group), length)
        cache = DynamicCache(config=backbone.model.config.text_config)
        backbone.decode_hidden(backbone.embed(ids.to(device)), attention.to(device), positions, cache)
        for row, index in enumerate(group):
            size = len(headers[index])
            states[index] = [
                (layer.keys[row : row + 1, :, :size], layer.values[row : row + 1, :, :size]) for layer in cache.layers
            ]
    return states  # type: ignore[return-value]


def splice_states(rows: Sequence[LayerStates], device: torch.device) -> tuple[LayerStates, torch.Tensor, torch.Tensor]:
    """Each row's header states left-padded to a common length: per-layer states, attention mask, header lengths."""
    lengths = torch.tensor([states[0][0].shape[-2] for states in rows], device=device)
    width = int(lengths.max())
    layers = [
        tuple(
            torch.cat([F.pad(states[layer][part], (0, 0, width - states[layer][part].shape[-2], 0)) for states in rows])
            for part in (0, 1)
        )
        for layer in range(len(rows[0]))
    ]
    mask = torch.arange(width, device=device)[None, :] >= (width - lengths)[:, None]
    return layers, mask.long(), lengths  # type: ignore[return-value]


def decode_after_headers(
    backbone: Backbone,
    header_rows: Sequence[LayerStates],
    embeds: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
) -> torch.Tensor:
    """Last hidden states of left-padded windows (``embeds``, positions counted from each window's start) that
    follow their rows' headers. Rows run in groups of similar header length, so a long header pads no other row."""
    lengths = [states[0][0].shape[-2] for states in header_rows]
    groups = length_groups(lengths)
    hidden = None
    for group in groups:
        index = torch.tensor(group, device=embeds.device)
        layers, header_mask, header_lengths = splice_states([header_rows[row] for row in group], embeds.device)
        cache = DynamicCache(ddp_cache_data=layers, config=backbone.model.config.text_config)
        attention = torch.cat([header_mask, attention_mask[index]], dim=1)
        positions = header_lengths[:, None] + position_ids[index]
        out, _ = backbone.decode_hidden(embeds[index], attention, positions, cache)
        if group == list(range(embeds.shape[0])):
            return out
        hidden = out.new_zeros(embeds.shape[0], *out.shape[1:]) if hidden is None else hidden
        hidden = hidden.index_copy(0, index, out)
    return hidden  # type: ignore[return-value]


def distinct_headers(headers: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[int]]:
    """The distinct headers (first-seen order) and the index of each row's header among them."""
    index: dict[tuple[int, ...], int] = {}
    rows = [index.setdefault(tuple(header), len(index)) for header in headers]
    return [list(header) for header in index], rows


class HeaderCache:
    """Least-recently-used store of per-layer (key, value) states of prompt headers, for acting."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._states: OrderedDict[HeaderKey, LayerStates] = OrderedDict()
        self._last: tuple[tuple[HeaderKey, ...], LayerStates, torch.Tensor, torch.Tensor] | None = None

    def clear(self) -> None:
        """Forget every header (call after the model's weights change)."""
        self._states.clear()
        self._last = None

    def batch(
        self, backbone: Backbone, keys: Sequence[HeaderKey], headers: Sequence[list[int]]
    ) -> tuple[DynamicCache, torch.Tensor, torch.Tensor]:
        """A KV cache holding each row's header left-padded to a common length, its attention mask and lengths."""
        if self._last is None or self._last[0] != tuple(keys):
            self._last = (tuple(keys), *self._padded(backbone, keys, headers))
        _, layers, mask, lengths = self._last
        return DynamicCache(ddp_cache_data=layers, config=backbone.model.config.text_config), mask, lengths

    def _padded(
        self, backbone: Backbone, keys: Sequence[HeaderKey], headers: Sequence[list[int]]
    ) -> tuple[LayerStates, torch.Tensor, torch.Tensor]:
        missing = list(dict.fromkeys(key for key in keys if key not in self._states))
        if missing:
            first = [headers[keys.index(key)] for key in missing]
            for key, states in zip(missing, header_states(backbone, first), strict=True):
                self._states[key] = states
        for key in keys:
            self._states.move_to_end(key)
        rows = [self._states[key] for key in keys]
        while len(self._states) > max(self.max_entries, len(set(keys))):
            self._states.popitem(last=False)
        return splice_states(rows, backbone.embed_device)
