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

    ``decode`` is total: any input yields valid in-bounds actions, never an exception. The batch is read by
    ``safe_sequences``: a 2-D array or tensor (any dtype, bf16 included) or a list of sequences gives one
    action per row; anything else is one id sequence, so one action (a 1-D array, a flat list of scalars, a
    bare scalar, a string, ``None``); an empty list or a 0-row array gives no actions. Inside a sequence,
    every element that is not an integer id of this tokenizer (out of range, a fraction, NaN, ``None``, text,
    a nested list) counts as missing; each subclass documents how it fills missing and absent ids.
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
            valid = bool(value == item) and 0 <= value < vocab_size and not isinstance(item, str | bytes)
        except Exception:  # anything at all may arrive here; it is simply not an id
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


def _as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A tensor of any dtype and device as a NumPy array (half and bfloat16 widened to float32)."""
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.float()
    return tensor.numpy()


def _is_sequence(item: Any) -> bool:
    if isinstance(item, np.ndarray | torch.Tensor):
        return item.ndim > 0
    if isinstance(item, str | bytes):
        return False
    try:
        iter(item)
    except TypeError:
        return False
    return True


def _row(item: Any) -> list[Any]:
    """One id sequence from one batch element: arrays flattened, other iterables listed, a scalar alone."""
    if item is None:
        return []
    if isinstance(item, torch.Tensor):
        item = _as_numpy(item)
    if isinstance(item, np.ndarray):
        return item.reshape(-1).tolist()
    if not _is_sequence(item):
        return [item]
    try:
        return list(item)
    except Exception:  # an iterable that fails half-way is junk
        return []


def safe_sequences(ids: Any) -> list[list[Any]]:
    """A batch of id sequences from anything (the rule is in ``ActionTokenizer``'s docstring); never raises."""
    try:
        if isinstance(ids, torch.Tensor):
            ids = _as_numpy(ids)
        if isinstance(ids, np.ndarray):
            if ids.ndim <= 1:
                return [ids.reshape(-1).tolist()]
            return [row.reshape(-1).tolist() for row in ids]
        if not _is_sequence(ids):
            return [_row(ids)]
        items = list(ids)
        if not any(_is_sequence(item) for item in items):
            return [items] if items else []
        return [_row(item) for item in items]
    except Exception:  # whatever it was, it holds no usable ids: one action by the fallback rule
        return [[]]


ProgressCallback = Callable[[int, dict[str, float]], None]
