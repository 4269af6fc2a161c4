"""Routes each embodiment to its action tokenizer and places local codes in the LLM vocabulary.

Tokenizers with local ids (RVQ, uniform bins, FAST) share one reserved block of LLM ids
``[code_offset, code_offset + reserved_size)`` (GEA: 30000-30512); which codebook or dimension an id
belongs to follows from its position. Semantic and UI tokenizers already speak text ids and are
kept out of the reserved block.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gea.errors import ConfigError
from gea.files import atomic_write_json
from gea.spec import EmbodimentSpec
from gea.tokenizers.base import ActionTokenizer, as_int_ids, load_tokenizer, safe_sequences
from gea.tokenizers.rvq import EmbodimentRVQTokenizer, ResidualVQTokenizer
from gea.tokenizers.semantic import SemanticTokenizer
from gea.tokenizers.ui_grammar import UIGrammarTokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MULTI_FILE = "multi_embodiment.json"
GEA_CODE_OFFSET = 30000
GEA_RESERVED_SIZE = 512
ContinuousChoice = ResidualVQTokenizer | Callable[[EmbodimentSpec], ActionTokenizer]


class MultiEmbodimentTokenizer:
    """One tokenizer per embodiment id, all speaking LLM token ids.

    ``encode``/``decode``/``allowed_next``/``mask`` take the embodiment id first. ``decode`` is total:
    a code id outside the reserved block counts as invalid for the embodiment's tokenizer, whose own
    documented fallback then applies.
    """

    def __init__(
        self,
        routes: Mapping[str, ActionTokenizer],
        code_offset: int = GEA_CODE_OFFSET,
        reserved_size: int = GEA_RESERVED_SIZE,
        llm_vocab_size: int | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.code_offset = code_offset
        self.reserved_size = reserved_size
        text_vocab = max((t.vocab_size for t in self.routes.values() if t.uses_text_vocab), default=0)
        self.llm_vocab_size = llm_vocab_size or max(code_offset + reserved_size, text_vocab)
        for name, tokenizer in self.routes.items():
            if not tokenizer.uses_text_vocab and tokenizer.vocab_size > reserved_size:
                raise ConfigError(
                    f"embodiment {name!r}: its {type(tokenizer).__name__} has {tokenizer.vocab_size} codes but the "
                    f"reserved block holds {reserved_size}; raise reserved_size or use fewer codes"
                )
            if tokenizer.uses_text_vocab and tokenizer.vocab_size > self.llm_vocab_size:
                raise ConfigError(f"embodiment {name!r}: text vocabulary larger than llm_vocab_size={llm_vocab_size}")
        if code_offset < 0 or code_offset + reserved_size > self.llm_vocab_size:
            raise ConfigError(
                f"reserved block [{code_offset}, {code_offset + reserved_size}) does not fit in the LLM vocabulary "
                f"of {self.llm_vocab_size} ids; choose code_offset/reserved_size inside it"
            )

    @classmethod
    def from_specs(
        cls,
        specs: Iterable[EmbodimentSpec],
        continuous: ContinuousChoice | None = None,
        text_tokenizer: PreTrainedTokenizerBase | None = None,
        **kwargs: Any,
    ) -> MultiEmbodimentTokenizer:
        """Pick each spec's tokenizer by action kind: continuous -> ``continuous`` (an RVQ fitted on that
        embodiment, or a factory), discrete -> semantic names, text -> UI grammar (both with ``text_tokenizer``).
        Embodiments with the same names or grammar share one tokenizer. ``kwargs`` go to the constructor."""
        routes: dict[str, ActionTokenizer] = {}
        shared: dict[Any, ActionTokenizer] = {}
        for spec in specs:
            action = spec.action
            if action.kind == "continuous":
                if continuous is None:
                    raise ConfigError(f"{spec.id} has continuous actions: pass continuous= (a fitted RVQ tokenizer)")
                routes[spec.id] = (
                    continuous.for_embodiment(spec.id)
                    if isinstance(continuous, ResidualVQTokenizer)
                    else continuous(spec)
                )
                continue
            if text_tokenizer is None:
                raise ConfigError(f"{spec.id} has {action.kind} actions: pass text_tokenizer= (the LLM's tokenizer)")
            if action not in shared:
                shared[action] = (
                    SemanticTokenizer.from_text_tokenizer(action.names, text_tokenizer)
                    if action.kind == "discrete"
                    else UIGrammarTokenizer(action, text_tokenizer)
                )
            routes[spec.id] = shared[action]
        return cls(routes, **kwargs)

    @property
    def embodiments(self) -> tuple[str, ...]:
        """Routed embodiment ids."""
        return tuple(self.routes)

    def tokenizer(self, embodiment: str) -> ActionTokenizer:
        """The tokenizer serving ``embodiment``."""
        if embodiment not in self.routes:
            raise ConfigError(f"no action tokenizer for embodiment {embodiment!r}; routed: {sorted(self.routes)}")
        return self.routes[embodiment]

    def encode(self, embodiment: str, actions: Any) -> list[list[int]]:
        """LLM token ids of each action in the batch."""
        tokenizer = self.tokenizer(embodiment)
        sequences = tokenizer.encode(actions)
        if tokenizer.uses_text_vocab:
            return sequences
        return [[token + self.code_offset for token in sequence] for sequence in sequences]

    def decode(self, embodiment: str, ids: Sequence[Sequence[Any]]) -> Any:
        """The batch of actions for LLM id sequences (total; see the class docstring)."""
        tokenizer = self.tokenizer(embodiment)
        rows = [as_int_ids(row, self.llm_vocab_size) for row in safe_sequences(ids)]
        if not tokenizer.uses_text_vocab:
            rows = [[self._to_local(token) for token in row] for row in rows]
        return tokenizer.decode([[-1 if token is None else token for token in row] for row in rows])

    def allowed_next(self, embodiment: str, prefix: Sequence[int]) -> np.ndarray:
        """Sorted LLM ids allowed after ``prefix`` (LLM ids); empty once the action is complete."""
        tokenizer = self.tokenizer(embodiment)
        if tokenizer.uses_text_vocab:
            allowed = tokenizer.allowed_next(prefix)
            outside = (allowed < self.code_offset) | (allowed >= self.code_offset + self.reserved_size)
            return allowed[outside]
        local = [token - self.code_offset for token in prefix]
        return tokenizer.allowed_next(local) + self.code_offset

    def mask(self, embodiment: str, prefix: Sequence[int] = ()) -> torch.Tensor:
        """Boolean (llm_vocab_size,) mask of the ids allowed after ``prefix``, for constrained decoding."""
        mask = torch.zeros(self.llm_vocab_size, dtype=torch.bool)
        mask[torch.from_numpy(self.allowed_next(embodiment, prefix))] = True
        return mask

    def position_masks(self, embodiment: str) -> torch.Tensor:
        """(tokens_per_action, llm_vocab_size) masks of a fixed-length code tokenizer (RVQ, bins): row p holds
        the ids valid at position p whatever came before."""
        tokenizer = self.tokenizer(embodiment)
        if tokenizer.uses_text_vocab:
            raise ConfigError(f"{embodiment!r} uses a prefix tree; ask mask(embodiment, prefix) at each step instead")
        masks = torch.zeros(tokenizer.tokens_per_action, self.llm_vocab_size, dtype=torch.bool)
        for position in range(tokenizer.tokens_per_action):
            ids = tokenizer.allowed_next([0] * position) + self.code_offset
            masks[position, torch.from_numpy(ids)] = True
        return masks

    def save(self, directory: str | Path) -> Path:
        """Write every distinct tokenizer once under ``parts/`` and the routing table as JSON."""
        path = Path(directory)
        parts: dict[int, int] = {}
        routes: dict[str, dict[str, Any]] = {}
        for name, tokenizer in self.routes.items():
            target, bound = (
                (tokenizer.base, tokenizer.embodiment)
                if isinstance(tokenizer, EmbodimentRVQTokenizer)
                else (tokenizer, None)
            )
            if id(target) not in parts:
                parts[id(target)] = len(parts)
                target.save(path / "parts" / str(parts[id(target)]))
            routes[name] = {"part": parts[id(target)], "embodiment": bound}
        header = {
            "code_offset": self.code_offset,
            "reserved_size": self.reserved_size,
            "llm_vocab_size": self.llm_vocab_size,
            "routes": routes,
        }
        atomic_write_json(path / MULTI_FILE, header, sort_keys=False)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> MultiEmbodimentTokenizer:
        """Load what ``save`` wrote (shared parts are loaded once and shared again)."""
        path = Path(directory)
        if not (path / MULTI_FILE).is_file():
            raise ConfigError(f"no multi-embodiment tokenizer at {path}: {MULTI_FILE} is missing")
        header = json.loads((path / MULTI_FILE).read_text())
        loaded: dict[int, ActionTokenizer] = {}
        routes: dict[str, ActionTokenizer] = {}
        for name, route in header["routes"].items():
            part = int(route["part"])
            if part not in loaded:
                loaded[part] = load_tokenizer(path / "parts" / str(part))
            tokenizer = loaded[part]
            if route["embodiment"] is not None and isinstance(tokenizer, ResidualVQTokenizer):
                tokenizer = tokenizer.for_embodiment(route["embodiment"])
            routes[name] = tokenizer
        return cls(routes, header["code_offset"], header["reserved_size"], header["llm_vocab_size"])

    def _to_local(self, token: int | None) -> int:
        if token is None or not self.code_offset <= token < self.code_offset + self.reserved_size:
            return -1
        return token - self.code_offset
