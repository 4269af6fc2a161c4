"""KV-cache reuse of prompt headers: the text before the observations is the same at every step of an episode.

The key/value states of each distinct header (env, instruction) are computed once and spliced, left-padded,
into the KV cache of every batch that needs them; only the observation window is run through the model.
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


class HeaderCache:
    """Least-recently-used store of per-layer (key, value) states of prompt headers."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._states: OrderedDict[HeaderKey, LayerStates] = OrderedDict()
        self._last: tuple[tuple[HeaderKey, ...], LayerStates, torch.Tensor, torch.Tensor] | None = None

    def clear(self) -> None:
        """Forget every header (call after the model's weights change)."""
        self._states.clear()
        self._last = None

    def _compute(self, backbone: Backbone, headers: Sequence[list[int]]) -> list[LayerStates]:
        """States of several headers in one right-padded forward (causal: padding never reaches real tokens)."""
        length = max(len(ids) for ids in headers)
        ids = torch.zeros(len(headers), length, dtype=torch.long)
        attention = torch.zeros(len(headers), length, dtype=torch.long)
        for row, header in enumerate(headers):
            ids[row, : len(header)] = torch.tensor(header)
            attention[row, : len(header)] = 1
        device = backbone.embed_device
        positions = torch.arange(length, device=device).expand(len(headers), length)
        cache = DynamicCache(config=backbone.model.config.text_config)
        backbone.decode_hidden(backbone.embed(ids.to(device)), attention.to(device), positions, cache)
        return [
            [
                (layer.keys[row : row + 1, :, : len(header)], layer.values[row : row + 1, :, : len(header)])
                for layer in cache.layers
            ]
            for row, header in enumerate(headers)
        ]

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
            first = {key: headers[keys.index(key)] for key in missing}
            for key, states in zip(missing, self._compute(backbone, list(first.values())), strict=True):
                self._states[key] = states
        for key in keys:
            self._states.move_to_end(key)
        rows = [self._states[key] for key in keys]
        while len(self._states) > max(self.max_entries, len(set(keys))):
            self._states.popitem(last=False)
        lengths = torch.tensor([states[0][0].shape[-2] for states in rows], device=backbone.embed_device)
        width = int(lengths.max())
        layers = [
            tuple(
                torch.cat(
                    [F.pad(states[layer][part], (0, 0, width - states[layer][part].shape[-2], 0)) for states in rows]
                )
                for part in (0, 1)
            )
            for layer in range(len(rows[0]))
        ]
        mask = torch.arange(width, device=lengths.device)[None, :] >= (width - lengths)[:, None]
        return layers, mask.long(), lengths  # type: ignore[return-value]
