"""Semantic tokenizer: action names as text tokens, prefix-tree constrained decoding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gea.errors import ConfigError, InvalidActionError
from gea.tokenizers import SemanticTokenizer, load_tokenizer

NAMES = ("turn left", "turn right", "move forward", "pick up", "drop", "toggle", "done")


@pytest.fixture(scope="module")
def semantic(text_tokenizer: Any) -> SemanticTokenizer:
    """BabyAI-like action names."""
    return SemanticTokenizer.from_text_tokenizer(NAMES, text_tokenizer)


def test_names_round_trip(semantic: SemanticTokenizer, text_tokenizer: Any) -> None:
    ids = semantic.encode(np.arange(len(NAMES)))
    assert all(row[-1] == text_tokenizer.eos_token_id for row in ids)
    assert text_tokenizer.decode(ids[0][:-1]) == "turn left"
    np.testing.assert_array_equal(semantic.decode(ids), np.arange(len(NAMES)))
    assert semantic.encode(["drop"]) == [ids[4]]
    assert semantic.decode_names(ids[:2]) == ["turn left", "turn right"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30))
def test_constrained_generation_only_produces_valid_names(semantic: SemanticTokenizer, picks: list[int]) -> None:
    prefix: list[int] = []
    for pick in picks:
        allowed = semantic.allowed_next(prefix)
        if len(allowed) == 0:
            break
        prefix.append(int(allowed[pick % len(allowed)]))
    while not semantic.is_complete(prefix):
        prefix.append(int(semantic.allowed_next(prefix)[0]))
    assert prefix in semantic.sequences


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(-(10**9), 10**9), st.none()), max_size=8), max_size=4))
def test_decode_of_any_ids_is_a_valid_index(semantic: SemanticTokenizer, rows: list[list[object]]) -> None:
    decoded = semantic.decode(rows)
    assert decoded.shape == (len(rows),) and np.all((decoded >= 0) & (decoded < len(NAMES)))


def test_fallback_rule(semantic: SemanticTokenizer) -> None:
    turn_right = semantic.encode(["turn right"])[0]
    assert semantic.decode([turn_right[:-1]]).tolist() == [1]  # end id missing: still the only completion
    assert semantic.decode([[]]).tolist() == [0]  # nothing: the first name
    assert semantic.decode([[turn_right[0], 10**9]]).tolist() == [0]  # "turn" then garbage: first "turn ..." name


def test_unknown_action_and_colliding_names_are_errors(semantic: SemanticTokenizer) -> None:
    with pytest.raises(InvalidActionError, match="valid names"):
        semantic.encode(["fly"])
    with pytest.raises(ConfigError, match="same text tokens"):
        SemanticTokenizer(("a", "b"), [[1, 0], [1, 0]], end_id=0, vocab_size=10)


def test_save_load_needs_no_text_tokenizer(semantic: SemanticTokenizer, tmp_path: Path) -> None:
    loaded = load_tokenizer(semantic.save(tmp_path / "semantic"))
    ids = [[5], [], *semantic.encode([3, 6])]
    np.testing.assert_array_equal(loaded.decode(ids), semantic.decode(ids))
    assert loaded.allowed_next([]).tolist() == semantic.allowed_next([]).tolist()
