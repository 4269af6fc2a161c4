"""The ActionTokenizer contract shared by every tokenizer, and the save/load machinery.

Ids are *local* to a tokenizer (``0 .. vocab_size - 1``) unless ``uses_text_vocab`` is true, in which
case they are the language model's own text-token ids. ``MultiEmbodimentTokenizer`` moves local ids
into the reserved range of the LLM vocabulary.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from gea.errors import ConfigError
from gea.files import atomic_write, atomic_write_json

CONFIG_FILE = "tokenizer.json"
WEIGHTS_FILE = "weights.safetensors"

TokenizerT = TypeVar("TokenizerT", bound="ActionTokenizer")
_TYPES: dict[str, type[ActionTokenizer]] = {}


def register_tokenizer(cls: type[TokenizerT]) -> type[TokenizerT]:
    """Class decorator: make ``load_tokenizer`` able to rebuild ``cls`` from its ``type_name``."""
    _TYPES[cls.type_name] = cls
    return cls


class ActionTokenizer(ABC):
    """Maps a batch of actions to token-id sequences and back; decoding never fails.

    ``decode`` is total: any id sequence (truncated, too long, out of range, not integers) yields a
    valid in-bounds action; each subclass documents its fallback rule.
    """

    type_name: ClassVar[str]

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Size of this tokenizer's id space."""

    @property
    @abstractmethod
    def tokens_per_action(self) -> int:
        """Tokens one action takes (the maximum, for variable-length tokenizers)."""

    @property
    def uses_text_vocab(self) -> bool:
        """Whether ids are the LLM's own text-token ids (else local codes to be placed in a reserved range)."""
        return False

    def fit(self, actions: Any) -> ActionTokenizer:
        """Learn whatever the tokenizer learns from example actions; returns ``self``."""
        del actions
        return self

    @abstractmethod
    def encode(self, actions: Any) -> list[list[int]]:
        """Token ids of each action in the batch ``actions``."""

    @abstractmethod
    def decode(self, ids: Sequence[Sequence[Any]]) -> Any:
        """The batch of actions for a batch of id sequences (total: never raises on bad ids)."""

    @abstractmethod
    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Sorted int64 ids that may follow ``prefix``; empty once the action is complete."""

    def is_complete(self, prefix: Sequence[int]) -> bool:
        """Whether ``prefix`` is a whole action (generation should stop)."""
        return len(self.allowed_next(prefix)) == 0

    @abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """The JSON-able configuration and the tensors that rebuild this tokenizer."""

    @classmethod
    @abstractmethod
    def from_state(
        cls: type[TokenizerT], config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path
    ) -> TokenizerT:
        """Rebuild a tokenizer from ``get_state``'s output (``directory`` holds any extra files)."""

    def save_extra(self, directory: Path) -> None:
        """Write files beyond the config and tensors (e.g. a text tokenizer); none by default."""
        del directory

    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer.json`` and ``weights.safetensors`` under ``directory`` (atomically per file)."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config, tensors = self.get_state()
        self.save_extra(path)
        tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
        atomic_write(path / WEIGHTS_FILE, lambda temporary: save_file(tensors, str(temporary)))
        atomic_write_json(path / CONFIG_FILE, {"type": self.type_name, "config": config}, sort_keys=False)
        return path


def load_tokenizer(directory: str | Path) -> ActionTokenizer:
    """Load any tokenizer written by ``ActionTokenizer.save`` (no pickle: JSON + safetensors only)."""
    _import_builtin_types()
    path = Path(directory)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise ConfigError(f"no tokenizer at {path}: {CONFIG_FILE} is missing; save one with `tokenizer.save(path)`")
    header = json.loads(config_path.read_text())
    kind = header.get("type")
    if kind not in _TYPES:
        raise ConfigError(f"{config_path}: unknown tokenizer type {kind!r}; known types: {sorted(_TYPES)}")
    weights = path / WEIGHTS_FILE
    tensors = load_file(str(weights)) if weights.is_file() else {}
    return _TYPES[kind].from_state(header["config"], tensors, path)


def _import_builtin_types() -> None:
    # Each module registers its tokenizer class on import.
    from gea.tokenizers import fast, rvq, semantic, ui_grammar, uniform  # noqa: F401


def as_int_ids(sequence: Sequence[Any], vocab_size: int) -> list[int | None]:
    """Each element as an int id in ``[0, vocab_size)``, or ``None`` where it is not one (total)."""
    result: list[int | None] = []
    for item in sequence:
        try:
            value = int(item)
            valid = value == item and 0 <= value < vocab_size
        except (TypeError, ValueError, OverflowError):
            valid = False
        result.append(value if valid else None)
    return result


def fixed_length_ids(sequence: Sequence[Any], neutral: np.ndarray, vocab_size: int) -> np.ndarray:
    """Fit an id sequence to ``len(neutral)`` positions: invalid or missing ids take that position's
    ``neutral`` id; ids past the end are ignored."""
    ids = neutral.copy()
    for position, value in enumerate(as_int_ids(list(sequence)[: len(neutral)], vocab_size)):
        if value is not None:
            ids[position] = value
    return ids


def safe_sequences(ids: Any) -> list[Sequence[Any]]:
    """A batch of id sequences from arrays, lists or anything iterable; a non-sequence becomes empty."""
    if isinstance(ids, np.ndarray | torch.Tensor):
        array = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else ids
        return [list(row) for row in np.atleast_2d(array)] if array.size else [[] for _ in range(len(array))]
    result: list[Sequence[Any]] = []
    for row in ids:
        try:
            result.append(list(row))
        except TypeError:
            result.append([])
    return result


ProgressCallback = Callable[[int, dict[str, float]], None]
