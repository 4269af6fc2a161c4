"""Fixtures for tokenizer tests: a small Hugging Face text tokenizer built offline."""

from __future__ import annotations

from typing import Any

import pytest

WORDS = [
    "turn left", "turn right", "move forward", "pick up", "drop", "toggle", "done",
    "move right and jump", "click", "type", "key", "ENTER", "TAB", "hello world", "search",
]  # fmt: skip


@pytest.fixture(scope="session")
def text_tokenizer() -> Any:
    """A byte-level BPE trained on the fly, wrapped as a Hugging Face PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<eos>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = WORDS + [f"click {x} {y}" for x in range(50) for y in range(0, 50, 7)]
    bpe.train_from_iterator(corpus * 3, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<eos>", pad_token="<pad>")
