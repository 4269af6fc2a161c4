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
HeaderKey = tuple[int, ...]
PADDING_SLACK = 1.25  # a group of headers is padded to at most this multiple of its real tokens
MIN_PREFIX_SAVING = 32  # header positions a shared prefix must save to be run once for its family


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


def prefix_families(
    headers: Sequence[Sequence[int]], min_saving: int = MIN_PREFIX_SAVING
) -> list[tuple[int, list[int]]]:
    """Headers grouped into families that share a token prefix worth computing once: ``(prefix length, indices)``.

    Headers are sorted (so each family is a run of neighbours) and neighbouring runs merge while that saves at least
    ``min_saving`` header positions (a shared prefix of length p run once instead of by every member); a family of
    several keeps at least one token of every member outside the prefix. A family of one has its whole header as
    prefix.
    """
    order = sorted(range(len(headers)), key=lambda index: tuple(headers[index]))
    runs = [(len(headers[index]), [index]) for index in order]  # (shared prefix length, members)
    while len(runs) > 1:
        best, best_saving = -1, min_saving - 1
        for position in range(len(runs) - 1):
            (left, first), (right, second) = runs[position], runs[position + 1]
            shared = min(left, right, _common_prefix(headers[first[-1]], headers[second[0]]))
            saving = shared * (len(first) + len(second) - 1) - left * (len(first) - 1) - right * (len(second) - 1)
            if saving > best_saving:
                best, best_saving = position, saving
        if best < 0:
            break
        (left, first), (right, second) = runs[best], runs[best + 1]
        shared = min(left, right, _common_prefix(headers[first[-1]], headers[second[0]]))
        runs[best : best + 2] = [(shared, first + second)]
    families = []
    for shared, members in runs:
        shared = min(shared, min(len(headers[index]) for index in members) - 1) if len(members) > 1 else shared
        if shared > 0:
            families.append((shared, members))
        else:  # members of one token: nothing left to share
            families.extend((len(headers[index]), [index]) for index in members)
    return families


def _common_prefix(first: Sequence[int], second: Sequence[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def header_states(backbone: Backbone, headers: Sequence[Sequence[int]]) -> list[LayerStates]:
    """Per-layer (key, value) states, (1, kv_heads, length, head_dim) each, of every header (differentiable).

    Headers that share a long token prefix (``prefix_families``: the same env's text with different instructions)
    run that prefix once and only their own remaining tokens on top of it; the states are the same as running
    every header whole.
    """
    families = prefix_families(headers)
    prefixes = causal_states(backbone, [list(headers[members[0]][:shared]) for shared, members in families])
    states: list[LayerStates | None] = [None] * len(headers)
    rows, suffixes = [], []
    for (shared, members), prefix in zip(families, prefixes, strict=True):
        if len(members) == 1:
            states[members[0]] = prefix
            continue
        for index in members:
            rows.append((index, prefix))
            suffixes.append(list(headers[index][shared:]))
    if rows:
        extended = extend_states(backbone, [prefix for _, prefix in rows], suffixes)
        for (index, _), row_states in zip(rows, extended, strict=True):
            states[index] = row_states
    return states  # type: ignore[return-value]


def causal_states(backbone: Backbone, sequences: Sequence[Sequence[int]]) -> list[LayerStates]:
    """Per-layer (key, value) states of token sequences run from position 0 (differentiable).

    Sequences run in length-bucketed groups, right-padded: causal attention alone keeps every real token from
    seeing the padding after it, so no padding mask is needed (SDPA then takes its causal kernel).
    """
    states: list[LayerStates | None] = [None] * len(sequences)
    device = backbone.embed_device
    for group in length_groups([len(sequence) for sequence in sequences]):
        length = max(len(sequences[index]) for index in group)
        ids = torch.zeros(len(group), length, dtype=torch.long)
        for row, index in enumerate(group):
            ids[row, : len(sequences[index])] = torch.as_tensor(list(sequences[index]))
        positions = torch.arange(length, device=device).expand(len(group), length)
        cache = DynamicCache(config=backbone.model.config.text_config)
        backbone.decode_hidden(backbone.embed(ids.to(device)), None, positions, cache)
        for row, index in enumerate(group):
            size = len(sequences[index])
            states[index] = [
                (layer.keys[row : row + 1, :, :size], layer.values[row : row + 1, :, :size]) for layer in cache.layers
            ]
    return states  # type: ignore[return-value]


def extend_states(
    backbone: Backbone, prefixes: Sequence[LayerStates], suffixes: Sequence[Sequence[int]]
) -> list[LayerStates]:
    """The states of each prefix followed by its suffix tokens (every suffix non-empty), computing only the suffix
    tokens on top of the prefix's states (differentiable through both)."""
    states: list[LayerStates | None] = [None] * len(suffixes)
    device = backbone.embed_device
    for group in length_groups([states_length(prefix) for prefix in prefixes]):
        layers, prefix_mask, prefix_lengths = splice_states([prefixes[index] for index in group], device)
        length = max(len(suffixes[index]) for index in group)
        ids = torch.zeros(len(group), length, dtype=torch.long)
        for row, index in enumerate(group):
            ids[row, : len(suffixes[index])] = torch.as_tensor(list(suffixes[index]))
        # suffixes are right-padded: causal attention keeps real tokens from seeing the padding after them
        attention = torch.cat([prefix_mask, torch.ones(len(group), length, dtype=torch.long, device=device)], dim=1)
        positions = prefix_lengths[:, None] + torch.arange(length, device=device)[None, :]
        cache = DynamicCache(ddp_cache_data=layers, config=backbone.model.config.text_config)
        backbone.decode_hidden(backbone.embed(ids.to(device)), attention, positions, cache)
        width = prefix_mask.shape[1]
        for row, index in enumerate(group):
            start, end = width - int(prefix_lengths[row]), width + len(suffixes[index])
            states[index] = [
                (layer.keys[row : row + 1, :, start:end], layer.values[row : row + 1, :, start:end])
                for layer in cache.layers
            ]
    return states  # type: ignore[return-value]


def states_length(states: LayerStates) -> int:
    """Number of positions held by per-layer states."""
    return int(states[0][0].shape[-2])


def splice_states(rows: Sequence[LayerStates], device: torch.device) -> tuple[LayerStates, torch.Tensor, torch.Tensor]:
    """Each row's header states left-padded to a common length: per-layer states, attention mask, header lengths."""
    lengths = torch.tensor([states_length(states) for states in rows], device=device)
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
    lengths = [states_length(states) for states in header_rows]
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
    """Least-recently-used store of per-layer (key, value) states of prompt headers, keyed by their token ids; valid
    while the weights that computed them stay unchanged (``clear`` it after an update)."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._states: OrderedDict[HeaderKey, LayerStates] = OrderedDict()
        self._last: tuple[tuple[HeaderKey, ...], LayerStates, torch.Tensor, torch.Tensor] | None = None

    def clear(self) -> None:
        """Forget every header (call after the model's weights change)."""
        self._states.clear()
        self._last = None

    def states(self, backbone: Backbone, headers: Sequence[Sequence[int]]) -> list[LayerStates]:
        """The states of each header, computing (``header_states``) only those not stored yet."""
        keys = [tuple(header) for header in headers]
        missing = list(dict.fromkeys(key for key in keys if key not in self._states))
        if missing:
            for key, states in zip(missing, header_states(backbone, missing), strict=True):
                self._states[key] = states
        for key in keys:
            self._states.move_to_end(key)
        found = [self._states[key] for key in keys]
        while len(self._states) > max(self.max_entries, len(set(keys))):
            self._states.popitem(last=False)
        return found

    def batch(
        self, backbone: Backbone, headers: Sequence[Sequence[int]]
    ) -> tuple[DynamicCache, torch.Tensor, torch.Tensor]:
        """A KV cache holding each row's header left-padded to a common length, its attention mask and lengths."""
        keys = tuple(tuple(header) for header in headers)
        if self._last is None or self._last[0] != keys:
            self._last = (keys, *splice_states(self.states(backbone, headers), backbone.embed_device))
        _, layers, mask, lengths = self._last
        return DynamicCache(ddp_cache_data=layers, config=backbone.model.config.text_config), mask, lengths
