"""Semantic tokenizer for discrete actions: each action's name in words, in the LLM's own text tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gea.errors import ConfigError, InvalidActionError
from gea.tokenizers.base import ActionTokenizer, as_int_ids, register_tokenizer, safe_sequences
from gea.tokenizers.text_vocab import end_of_action_id, text_ids
from gea.tokenizers.trie import TokenTrie

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@register_tokenizer
class SemanticTokenizer(ActionTokenizer):
    """Action ``i`` is the text tokens of ``names[i]`` followed by the end id (the EOS token by default).

    Ids are the language model's text ids. Constrained decoding walks a prefix tree over the names, so
    only valid names can be generated. Decode rule: follow the ids as far as they match some name's
    tokens (invalid ids stop the walk); return that name if it is complete there, else the first name in
    ``names`` order that continues the matched prefix (so an empty or garbage sequence gives action 0).
    """

    type_name = "semantic"

    def __init__(self, names: Sequence[str], sequences: Sequence[Sequence[int]], end_id: int, vocab_size: int) -> None:
        if not names:
            raise ConfigError("a semantic tokenizer needs at least one action name")
        self.names = tuple(names)
        self.sequences = [list(map(int, sequence)) for sequence in sequences]
        self.end_id = end_id
        self._vocab_size = vocab_size
        self._index = {name: index for index, name in enumerate(self.names)}
        self._trie: TokenTrie[int] = TokenTrie()
        seen: dict[tuple[int, ...], str] = {}
        for index, (name, sequence) in enumerate(zip(self.names, self.sequences)):
            key = tuple(sequence)
            if key in seen:
                raise ConfigError(
                    f"action names {seen[key]!r} and {name!r} give the same text tokens {sequence}; "
                    "the text tokenizer cannot tell them apart (it maps their words to the same ids, e.g. UNK): "
                    "use a tokenizer that covers these words or rename the actions"
                )
            seen[key] = name
            self._trie.insert(sequence, index)

    @classmethod
    def from_text_tokenizer(
        cls, names: Sequence[str], text_tokenizer: PreTrainedTokenizerBase, end_id: int | None = None
    ) -> SemanticTokenizer:
        """Tokenize each name with the LLM's text tokenizer and close it with ``end_id`` (default: EOS)."""
        end = end_of_action_id(text_tokenizer, end_id)
        sequences = [[*text_ids(text_tokenizer, name), end] for name in names]
        return cls(names, sequences, end, len(text_tokenizer))

    @property
    def vocab_size(self) -> int:
        """Size of the text vocabulary the ids come from."""
        return self._vocab_size

    @property
    def tokens_per_action(self) -> int:
        """Tokens of the longest name, end id included."""
        return max(len(sequence) for sequence in self.sequences)

    @property
    def uses_text_vocab(self) -> bool:
        """Ids are text ids of the language model."""
        return True

    def encode(self, actions: Any) -> list[list[int]]:
        """Token ids of each action, given as indices or names."""
        return [list(self.sequences[self._as_index(action)]) for action in _as_list(actions)]

    def decode(self, ids: Sequence[Sequence[Any]]) -> np.ndarray:
        """int64 action indices; see the class docstring for the rule on malformed ids."""
        rows = [as_int_ids(row, self.vocab_size) for row in safe_sequences(ids)]
        return np.array([self._trie.resolve(row) or 0 for row in rows], np.int64)

    def decode_names(self, ids: Sequence[Sequence[Any]]) -> list[str]:
        """Action names of ``decode``."""
        return [self.names[index] for index in self.decode(ids)]

    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Ids continuing some name after ``prefix``; empty when a name is complete (or off the tree)."""
        return self._trie.allowed(prefix)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Names with their token ids: no text tokenizer is needed to rebuild."""
        config = {"names": list(self.names), "sequences": self.sequences, "end_id": self.end_id}
        return {**config, "vocab_size": self.vocab_size}, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path) -> SemanticTokenizer:
        """Rebuild from ``get_state``."""
        return cls(config["names"], config["sequences"], config["end_id"], config["vocab_size"])

    def _as_index(self, action: Any) -> int:
        if isinstance(action, str):
            if action not in self._index:
                raise InvalidActionError(f"unknown action name {action!r}; valid names: {list(self.names)}")
            return self._index[action]
        try:
            index = int(action)
        except (TypeError, ValueError) as error:
            raise InvalidActionError(f"expected an action index or name, got {action!r}") from error
        if not 0 <= index < len(self.names):
            raise InvalidActionError(f"action index {index} is out of range [0, {len(self.names)})")
        return index


def _as_list(actions: Any) -> list[Any]:
    if isinstance(actions, str | int | np.integer):
        raise InvalidActionError(
            f"encode takes a batch of actions (a list or array), got the single action {actions!r}"
        )
    return list(np.asarray(actions).reshape(-1)) if isinstance(actions, np.ndarray) else list(actions)
