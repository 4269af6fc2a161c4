"""The policy's view of the action tokenizer: a thin adapter over ``gea.tokenizers.MultiEmbodimentTokenizer``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from gea.spec import ContinuousActions, DiscreteActions, EmbodimentSpec
from gea.tokenizers.base import ActionTokenizer
from gea.tokenizers.multi import GEA_CODE_OFFSET, GEA_RESERVED_SIZE, ContinuousChoice, MultiEmbodimentTokenizer
from gea.tokenizers.normalize import ActionStats
from gea.tokenizers.uniform import UniformBinTokenizer

AllowedNext = Callable[[Sequence[int]], np.ndarray]
DEFAULT_BINS = 256


def uniform_bins(spec: EmbodimentSpec, n_bins: int = DEFAULT_BINS) -> ActionTokenizer:
    """Per-dimension uniform bins over the spec's [low, high]: the data-free continuous tokenizer."""
    action = spec.action
    assert isinstance(action, ContinuousActions)
    return UniformBinTokenizer(n_bins, ActionStats.from_bounds(action.low, action.high))


def default_code_offset(text_vocab_size: int, reserved_size: int = GEA_RESERVED_SIZE) -> int:
    """GEA's block (ids 30000+) when the text vocabulary covers it, else the first ids after the text vocabulary."""
    if text_vocab_size >= GEA_CODE_OFFSET + reserved_size:
        return GEA_CODE_OFFSET
    return (text_vocab_size + 63) // 64 * 64


class ActionCodec:
    """Action <-> LLM token ids for every embodiment the policy acts in, one action at a time."""

    def __init__(self, tokenizer: MultiEmbodimentTokenizer) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def for_envs(
        cls,
        specs: Sequence[EmbodimentSpec],
        text_tokenizer: PreTrainedTokenizerBase,
        continuous: ContinuousChoice | None = None,
        code_offset: int | None = None,
        reserved_size: int = GEA_RESERVED_SIZE,
    ) -> ActionCodec:
        """Route each spec: discrete -> semantic names, text -> UI grammar (both in the model's text tokens),
        continuous -> ``continuous`` (a fitted RVQ, or a factory; default: 256 uniform bins per dimension)."""
        offset = default_code_offset(len(text_tokenizer), reserved_size) if code_offset is None else code_offset
        unique = list({spec.id: spec for spec in specs}.values())
        multi = MultiEmbodimentTokenizer.from_specs(
            unique,
            continuous=continuous or uniform_bins,
            text_tokenizer=text_tokenizer,
            code_offset=offset,
            reserved_size=reserved_size,
            llm_vocab_size=max(offset + reserved_size, len(text_tokenizer)),
        )
        return cls(multi)

    @property
    def min_vocab_size(self) -> int:
        """The model vocabulary must have at least this many ids (text ids and the reserved code block)."""
        return self.tokenizer.llm_vocab_size

    def allowed_next_fn(self, spec: EmbodimentSpec) -> AllowedNext:
        """``prefix -> sorted LLM ids allowed next`` for ``spec`` (empty once the action is complete)."""
        return functools.partial(self.tokenizer.allowed_next, spec.id)

    def max_tokens(self, specs: Sequence[EmbodimentSpec]) -> int:
        """Most tokens an action of any of ``specs`` can take."""
        return max(self.tokenizer.tokenizer(spec.id).tokens_per_action for spec in specs)

    def encode(self, spec: EmbodimentSpec, action: Any) -> list[int]:
        """LLM token ids of one native action."""
        return self.tokenizer.encode(spec.id, [action])[0]

    def decode(self, spec: EmbodimentSpec, ids: Sequence[int]) -> Any:
        """The native action for token ids (total): int for discrete, float32 array for continuous, str for UI."""
        action = self.tokenizer.decode(spec.id, [list(ids)])[0]
        if isinstance(spec.action, DiscreteActions):
            return int(action)
        if isinstance(spec.action, ContinuousActions):
            return np.asarray(action, np.float32)
        return str(action)

    def save(self, directory: Path) -> None:
        """Write the multi-embodiment tokenizer (JSON + safetensors)."""
        self.tokenizer.save(directory)

    @classmethod
    def load(cls, directory: Path) -> ActionCodec:
        """Load what ``save`` wrote."""
        return cls(MultiEmbodimentTokenizer.load(directory))
