"""Tokenizer for UI actions written in a small grammar (``click X Y``, ``type "TEXT"``, ``key K``).

Template words: ``X``/``Y`` are integers on the ``grid`` x ``grid`` screen grid, ``K`` is a key name (out of the
spec's ``keys``),
a quoted word (``"TEXT"``) is free text (last in its template), anything else is a literal word.
Each word is tokenized on its own (with a leading space after the first) by the LLM's text tokenizer,
then the end id closes the action; finite actions form a prefix tree, free text is bounded.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gea.errors import ConfigError, InvalidActionError
from gea.spec import UI_KEYS, TextActions
from gea.tokenizers.base import ActionTokenizer, as_int_ids, register_tokenizer, safe_sequences
from gea.tokenizers.text_vocab import (
    TEXT_TOKENIZER_DIR,
    end_of_action_id,
    load_text_tokenizer,
    text_ids,
)
from gea.tokenizers.trie import TokenTrie

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_GRID_SLOTS = ("X", "Y")
_KEY_SLOT = "K"


def _is_text_slot(word: str) -> bool:
    return len(word) >= 2 and word.startswith('"') and word.endswith('"')


def expand_template(template: str) -> list[list[str]]:
    """The plain word sequences a grammar template stands for.

    Shorthand: ``a|b`` is one word out of several, ``[...]`` an optional group of words, so
    ``scroll up|down [X Y]`` stands for ``scroll up``, ``scroll up X Y``, ``scroll down``, ``scroll down X Y``.
    """
    sequences: list[list[str]] = [[]]
    tokens = template.replace("[", " [ ").replace("]", " ] ").split()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "[" and "]" in tokens[index:]:
            end = tokens.index("]", index)
            optional = [words for words in expand_template(" ".join(tokens[index + 1 : end]))]
            sequences = [base + extra for base in sequences for extra in [[], *optional]]
            index = end + 1
            continue
        choices = token.split("|") if "|" in token and "" not in token.split("|") else [token]
        sequences = [[*base, choice] for base in sequences for choice in choices]
        index += 1
    return sequences


@register_tokenizer
class UIGrammarTokenizer(ActionTokenizer):
    """UI actions as text tokens, constrained to a grammar; ids are the LLM's text ids.

    Decode rule: if the ids start with a free-text template's words, the text is read up to the end id
    (invalid and special ids dropped, cut to ``max_length`` characters); otherwise the ids are followed
    through the prefix tree of finite actions as far as they match and the first action (in grammar
    order) continuing that prefix is returned (``click 0 0`` for garbage under the default grammar). A
    grammar with only free-text templates decodes garbage to that template with empty text.
    """

    type_name = "ui_grammar"

    def __init__(
        self,
        spec: TextActions,
        text_tokenizer: PreTrainedTokenizerBase,
        end_id: int | None = None,
    ) -> None:
        self.spec = spec
        self.text_tokenizer = text_tokenizer
        self.end_id = end_of_action_id(text_tokenizer, end_id)
        self._word_ids: dict[str, list[int]] = {}
        self._finite: TokenTrie[str] = TokenTrie()
        self._actions: dict[str, list[int]] = {}
        self._text_prefixes: list[tuple[tuple[str, ...], list[int]]] = []
        for template in spec.grammar:
            for words in expand_template(template):
                self._add_template(words)
        if not self._actions and not self._text_prefixes:
            raise ConfigError(f"the UI grammar {list(spec.grammar)} has no templates")
        special = set(getattr(text_tokenizer, "all_special_ids", [])) - {self.end_id}
        self._free_ids = np.array(sorted(set(range(len(text_tokenizer))) - special), np.int64)

    @property
    def keys(self) -> tuple[str, ...]:
        """Key names the ``K`` slot takes (the spec's)."""
        return self.spec.keys

    @property
    def vocab_size(self) -> int:
        """Size of the text vocabulary."""
        return len(self.text_tokenizer)

    @property
    def tokens_per_action(self) -> int:
        """The most tokens one action may take, end id included."""
        longest_finite = max((len(ids) for ids in self._actions.values()), default=0)
        longest_prefix = max((len(ids) for _, ids in self._text_prefixes), default=0)
        text = longest_prefix + self.spec.max_length + 1 if self._text_prefixes else 0
        return max(longest_finite, text)

    @property
    def uses_text_vocab(self) -> bool:
        """Ids are text ids of the language model."""
        return True

    def encode(self, actions: Any) -> list[list[int]]:
        """Token ids of each action string (``InvalidActionError`` for strings outside the grammar)."""
        if isinstance(actions, str):
            raise InvalidActionError(f"encode takes a list of action strings, got the single string {actions!r}")
        return [self._encode_one(action) for action in actions]

    def decode(self, ids: Sequence[Sequence[Any]]) -> list[str]:
        """Action strings within the grammar; see the class docstring for the rule on malformed ids."""
        return [self._decode_one(as_int_ids(row, self.vocab_size)) for row in safe_sequences(ids)]

    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Ids that keep ``prefix`` inside the grammar; empty once an action is complete."""
        prefix = [int(token) for token in prefix]
        allowed = [self._finite.allowed(prefix)]
        for _, head in self._text_prefixes:
            if len(prefix) < len(head) and prefix == head[: len(prefix)]:
                allowed.append(np.array([head[len(prefix)]], np.int64))
            elif prefix[: len(head)] == head:
                rest = prefix[len(head) :]
                if self.end_id in rest:
                    continue
                limit = len(rest) >= self.spec.max_length
                allowed.append(np.array([self.end_id], np.int64) if limit else self._free_ids)
        return np.unique(np.concatenate(allowed)).astype(np.int64)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Grammar, grid, length bound, keys and end id (the text tokenizer is saved beside them)."""
        spec = {
            "grammar": list(self.spec.grammar),
            "grid": self.spec.grid,
            "max_length": self.spec.max_length,
            "keys": list(self.spec.keys),
        }
        return {"spec": spec, "end_id": self.end_id}, {}

    def save_extra(self, directory: Path) -> None:
        """Save the text tokenizer (needed to decode free text)."""
        self.text_tokenizer.save_pretrained(str(directory / TEXT_TOKENIZER_DIR))

    @classmethod
    def from_state(
        cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path
    ) -> UIGrammarTokenizer:
        """Rebuild from ``get_state`` and the saved text tokenizer (older files keep their keys beside the spec)."""
        spec = config["spec"]
        keys = tuple(spec.get("keys", config.get("keys", UI_KEYS)))
        text_actions = TextActions(tuple(spec["grammar"]), spec["grid"], spec["max_length"], keys)
        return cls(text_actions, load_text_tokenizer(directory), config["end_id"])

    def _add_template(self, words: list[str]) -> None:
        if any(ch in word for word in words for ch in "|[]"):
            raise ConfigError(f"unbalanced '[...]' or stray '|' in the UI grammar template {' '.join(words)!r}")
        if not words:
            raise ConfigError("empty template in the UI grammar")
        text_at = [index for index, word in enumerate(words) if _is_text_slot(word)]
        if text_at and text_at != [len(words) - 1]:
            raise ConfigError(f"free text must be the last word of a template, once: {' '.join(words)!r}")
        if text_at:
            head = words[:-1]
            if any(word in _GRID_SLOTS or word == _KEY_SLOT for word in head):
                raise ConfigError(f"a free-text template may only start with literal words: {' '.join(words)!r}")
            self._text_prefixes.append((tuple(head), self._words_ids(head)))
            return
        choices = [self._slot_values(word) for word in words]
        for filled in itertools.product(*choices):
            action = " ".join(filled)
            ids = [*self._words_ids(list(filled)), self.end_id]
            if action not in self._actions:
                self._actions[action] = ids
                self._finite.insert(ids, action)

    def _slot_values(self, word: str) -> list[str]:
        if word in _GRID_SLOTS:
            return [str(value) for value in range(self.spec.grid)]
        if word == _KEY_SLOT:
            return list(self.keys)
        return [word]

    def _words_ids(self, words: list[str]) -> list[int]:
        ids: list[int] = []
        for position, word in enumerate(words):
            piece = word if position == 0 else " " + word
            if piece not in self._word_ids:
                self._word_ids[piece] = text_ids(self.text_tokenizer, piece)
            ids += self._word_ids[piece]
        return ids

    def _encode_one(self, action: Any) -> list[int]:
        if not isinstance(action, str):
            raise InvalidActionError(f"UI actions are strings such as 'click 3 4'; got {action!r}")
        canonical = " ".join(action.split())
        if canonical in self._actions:
            return list(self._actions[canonical])
        for head, head_ids in self._text_prefixes:
            match = re.fullmatch(r"\s*" + r"\s+".join(map(re.escape, head)) + r'\s+"(.*)"\s*', action, re.DOTALL)
            if match is None:
                continue
            text = match.group(1)
            body = text_ids(self.text_tokenizer, " " + text) if text else []
            if len(text) > self.spec.max_length or len(body) > self.spec.max_length:
                raise InvalidActionError(f"typed text is longer than max_length={self.spec.max_length}: {text!r}")
            return [*head_ids, *body, self.end_id]
        raise InvalidActionError(
            f"{action!r} is not in the UI grammar {list(self.spec.grammar)} "
            f"(grid {self.spec.grid}x{self.spec.grid}, keys {list(self.keys)})"
        )

    def _decode_one(self, ids: list[int | None]) -> str:
        for head, head_ids in self._text_prefixes:
            if ids[: len(head_ids)] == head_ids:
                rest = ids[len(head_ids) :]
                body = list(itertools.takewhile(lambda token: token != self.end_id, rest))
                valid = [token for token in body[: self.spec.max_length] if token is not None]
                text = self.text_tokenizer.decode(valid, skip_special_tokens=True) if valid else ""
                text = text[1:] if text.startswith(" ") else text
                return " ".join(head) + ' "' + text[: self.spec.max_length] + '"'
        if self._actions:
            return self._finite.resolve(ids) or next(iter(self._actions))
        head, _ = self._text_prefixes[0]
        return " ".join(head) + ' ""'
