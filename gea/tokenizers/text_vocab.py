"""Helpers around the language model's own text tokenizer (a Hugging Face ``PreTrainedTokenizerBase``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gea.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TEXT_TOKENIZER_DIR = "text_tokenizer"


def text_ids(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Ids of ``text`` without special tokens."""
    return list(tokenizer.encode(text, add_special_tokens=False))


def end_of_action_id(tokenizer: PreTrainedTokenizerBase, end_id: int | None) -> int:
    """The id closing every semantic action: ``end_id`` if given, else the tokenizer's EOS id."""
    chosen = end_id if end_id is not None else tokenizer.eos_token_id
    if chosen is None:
        raise ConfigError(
            "the text tokenizer has no eos_token_id; pass end_id= (an id that closes each action) explicitly"
        )
    return int(chosen)


def load_text_tokenizer(directory: Path) -> Any:
    """Load a text tokenizer saved with ``save_pretrained`` under ``directory/text_tokenizer`` (local only)."""
    from transformers import AutoTokenizer

    path = directory / TEXT_TOKENIZER_DIR
    if not path.is_dir():
        raise ConfigError(f"{path} is missing: the text tokenizer was not saved with this action tokenizer")
    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
