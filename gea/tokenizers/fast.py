"""FAST: an action chunk -> DCT over time -> quantized coefficients -> BPE tokens (HF ``tokenizers``).

A chunk is ``chunk`` consecutive actions of one embodiment, shape (chunk, dim). Coefficients are
flattened frequency-major (all dimensions of the lowest frequency first), each quantized integer is
written as one character, and a byte-pair encoding trained on the fly compresses the strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, trainers

from gea.errors import ConfigError, InvalidActionError
from gea.tokenizers.base import ActionTokenizer, as_int_ids, register_tokenizer, safe_sequences
from gea.tokenizers.normalize import ActionStats

_FIRST_CHAR = 0x4E00  # printable code points, one per quantized coefficient value


def dct_matrix(size: int) -> np.ndarray:
    """Orthonormal DCT-II matrix: ``dct_matrix(n) @ x`` transforms along the first axis; its transpose inverts."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (n + 0.5) * k / size) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    return matrix.astype(np.float64)


def chunk_actions(actions: np.ndarray, chunk: int) -> np.ndarray:
    """Split one episode's (T, dim) actions into (T // chunk, chunk, dim) non-overlapping chunks."""
    count = len(actions) // chunk
    return np.asarray(actions[: count * chunk], np.float32).reshape(count, chunk, -1)


@register_tokenizer
class FASTTokenizer(ActionTokenizer):
    """FAST tokenizer over action chunks: a variable number of BPE ids per chunk, then the end id.

    ``encode`` takes (N, chunk, dim) chunks; ``decode`` returns (N, chunk, dim). ``vocab_size - 1`` is the
    end id. Decode rule: ids after the first end id are ignored; out-of-range or non-integer ids are
    dropped; the coefficient list is cut or zero-padded to chunk x dim; values are clipped to [low, high].
    An empty sequence therefore decodes to the middle of the range held for the whole chunk.
    """

    type_name = "fast"

    def __init__(
        self,
        chunk: int = 10,
        scale: float = 10.0,
        bpe_vocab_size: int = 1024,
        stats: ActionStats | None = None,
        bpe: Tokenizer | None = None,
    ) -> None:
        if chunk < 1 or scale <= 0:
            raise ConfigError(f"FAST needs chunk >= 1 and scale > 0, got chunk={chunk}, scale={scale}")
        self.chunk = chunk
        self.scale = scale
        self.bpe_vocab_size = bpe_vocab_size
        self.stats = stats
        self.bpe = bpe
        self.max_value = int(np.ceil(np.sqrt(2.0 * chunk) * scale)) + 1
        self._dct = dct_matrix(chunk)

    @property
    def vocab_size(self) -> int:
        """BPE vocabulary plus the end id."""
        return self._bpe().get_vocab_size() + 1

    @property
    def end_id(self) -> int:
        """The id that closes a chunk."""
        return self.vocab_size - 1

    @property
    def tokens_per_action(self) -> int:
        """The most ids one chunk may take: one per coefficient plus the end id."""
        return self.chunk * self._stats().dim + 1

    def fit(self, actions: Any) -> FASTTokenizer:
        """Set the range from the chunks' actions and train the BPE on their coefficient strings."""
        chunks = self._as_chunks(actions, dim=None)
        self.stats = ActionStats.from_actions(chunks.reshape(-1, chunks.shape[-1]))
        alphabet = [chr(_FIRST_CHAR + value) for value in range(2 * self.max_value + 1)]
        trainer = trainers.BpeTrainer(
            vocab_size=self.bpe_vocab_size, initial_alphabet=alphabet, show_progress=False, special_tokens=[]
        )
        self.bpe = Tokenizer(models.BPE())
        self.bpe.train_from_iterator(self._strings(chunks), trainer=trainer)
        return self

    def encode(self, actions: Any) -> list[list[int]]:
        """BPE ids of each chunk, each ending with ``end_id``."""
        chunks = self._as_chunks(actions, self._stats().dim)
        encodings = self._bpe().encode_batch(self._strings(chunks))
        return [[*encoding.ids, self.end_id] for encoding in encodings]

    def decode(self, ids: Sequence[Sequence[Any]]) -> np.ndarray:
        """(N, chunk, dim) actions; see the class docstring for the rule on malformed ids."""
        stats, bpe = self._stats(), self._bpe()
        size = self.chunk * stats.dim
        chunks = []
        for row in safe_sequences(ids):
            values: list[int] = []
            for token in as_int_ids(row, self.vocab_size):
                if token == self.end_id:
                    break
                if token is not None:
                    piece = bpe.id_to_token(token) or ""
                    values += [ord(char) - _FIRST_CHAR - self.max_value for char in piece]
            coefficients = np.zeros(size)
            coefficients[: min(size, len(values))] = values[:size]
            normalized = self._dct.T @ (coefficients.reshape(self.chunk, stats.dim) / self.scale)
            chunks.append(stats.denormalize(normalized))
        return np.stack(chunks) if chunks else np.zeros((0, self.chunk, stats.dim), np.float32)

    def allowed_next(self, prefix: Sequence[int]) -> np.ndarray:
        """Any BPE id or the end id; only the end id at the length limit; nothing after the end id."""
        if self.end_id in prefix or len(prefix) >= self.tokens_per_action:
            return np.zeros(0, np.int64)
        if len(prefix) == self.tokens_per_action - 1:
            return np.array([self.end_id], np.int64)
        return np.arange(self.vocab_size, dtype=np.int64)

    def get_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Chunk length, scale, range and the BPE model as JSON."""
        config = {
            "chunk": self.chunk,
            "scale": self.scale,
            "bpe_vocab_size": self.bpe_vocab_size,
            "stats": self._stats().to_dict(),
            "bpe": self._bpe().to_str(),
        }
        return config, {}

    @classmethod
    def from_state(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor], directory: Path) -> FASTTokenizer:
        """Rebuild from ``get_state``."""
        stats = ActionStats.from_dict(config["stats"])
        bpe = Tokenizer.from_str(config["bpe"])
        return cls(config["chunk"], config["scale"], config["bpe_vocab_size"], stats, bpe)

    def _strings(self, chunks: np.ndarray) -> list[str]:
        stats = self._stats()
        normalized = stats.normalize(chunks.reshape(-1, chunks.shape[-1])).reshape(chunks.shape)
        coefficients = np.einsum("kt,ntd->nkd", self._dct, normalized) * self.scale
        quantized = np.clip(np.rint(coefficients), -self.max_value, self.max_value).astype(np.int64)
        offsets = quantized.reshape(len(chunks), -1) + self.max_value + _FIRST_CHAR
        return ["".join(map(chr, row)) for row in offsets]

    def _as_chunks(self, actions: Any, dim: int | None) -> np.ndarray:
        array = np.asarray(actions, np.float32)
        if array.ndim != 3 or array.shape[1] != self.chunk or (dim is not None and array.shape[2] != dim):
            want = f"(N, {self.chunk}, {dim if dim is not None else 'dim'})"
            raise InvalidActionError(
                f"FAST encodes action chunks of shape {want}; got shape {array.shape}. "
                "Use gea.tokenizers.fast.chunk_actions(episode_actions, chunk) to cut episodes into chunks"
            )
        if not np.all(np.isfinite(array)):
            raise InvalidActionError("action chunks contain NaN or inf")
        return array

    def _stats(self) -> ActionStats:
        if self.stats is None:
            raise ConfigError("FASTTokenizer is not fitted: call fit(chunks) first")
        return self.stats

    def _bpe(self) -> Tokenizer:
        if self.bpe is None:
            raise ConfigError("FASTTokenizer is not fitted: call fit(chunks) first")
        return self.bpe
