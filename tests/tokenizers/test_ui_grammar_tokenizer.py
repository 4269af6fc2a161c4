"""UI grammar tokenizer: click on a grid, typed text, keys; constrained and total."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gea.errors import InvalidActionError
from gea.spec import UI_KEYS, TextActions
from gea.tokenizers import UIGrammarTokenizer, load_tokenizer
from gea.tokenizers.ui_grammar import expand_template

SPEC = TextActions(grammar=("click X Y", 'type "TEXT"', "key K"), grid=50, max_length=12)
VALID = re.compile(r'click (\d+) (\d+)|type "(.*)"|key (?:' + "|".join(map(re.escape, SPEC.keys)) + ")", re.DOTALL)


@pytest.fixture(scope="module")
def ui(text_tokenizer: Any) -> UIGrammarTokenizer:
    """The default UI grammar on a 50 x 50 grid."""
    return UIGrammarTokenizer(SPEC, text_tokenizer)


def valid(action: str) -> bool:
    """Whether ``action`` is in SPEC's grammar with in-range grid cells."""
    match = VALID.fullmatch(action)
    if match is None:
        return False
    cells = [int(v) for v in match.groups()[:2] if v is not None]
    return all(0 <= v < SPEC.grid for v in cells) and len(match.group(3) or "") <= SPEC.max_length


def test_round_trip(ui: UIGrammarTokenizer) -> None:
    actions = ["click 3 49", "click 0 0", 'type "hello world"', "key ENTER", 'type ""']
    assert ui.decode(ui.encode(actions)) == actions
    assert ui.encode(["click  3   49"]) == ui.encode(["click 3 49"])


def test_invalid_actions_are_refused(ui: UIGrammarTokenizer) -> None:
    for action in ["click 50 1", "scroll up", "key F13", 'type "far too long a text"']:
        with pytest.raises(InvalidActionError):
            ui.encode([action])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_constrained_generation_stays_in_the_grammar(ui: UIGrammarTokenizer, picks: list[int]) -> None:
    prefix: list[int] = []
    for pick in picks:
        allowed = ui.allowed_next(prefix)
        if len(allowed) == 0:
            break
        prefix.append(int(allowed[pick % len(allowed)]))
    for _ in range(ui.tokens_per_action):
        if ui.is_complete(prefix):
            break
        allowed = ui.allowed_next(prefix)
        prefix.append(ui.end_id if ui.end_id in allowed else int(allowed[0]))
    assert ui.is_complete(prefix)
    assert valid(ui.decode([prefix])[0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(-5, 500), st.text(max_size=1)), max_size=20), max_size=3))
def test_decode_of_any_ids_is_in_the_grammar(ui: UIGrammarTokenizer, rows: list[list[object]]) -> None:
    assert all(valid(action) for action in ui.decode(rows))


def test_garbage_falls_back_to_the_first_action(ui: UIGrammarTokenizer) -> None:
    assert ui.decode([[], [-3, 10**9]]) == ["click 0 0", "click 0 0"]
    click_3 = ui.encode(["click 3 7"])[0]
    assert ui.decode([click_3[:-2]])[0].startswith("click 3")


def test_save_load_round_trip(ui: UIGrammarTokenizer, tmp_path: Path) -> None:
    loaded = load_tokenizer(ui.save(tmp_path / "ui"))
    ids = [*ui.encode(["click 1 2", 'type "search"', "key TAB"]), [7, 8, 9]]
    assert loaded.decode(ids) == ui.decode(ids)


def test_keys_are_the_action_specs(ui: UIGrammarTokenizer, text_tokenizer: Any, tmp_path: Path) -> None:
    assert ui.keys == SPEC.keys == UI_KEYS
    assert ui.decode(ui.encode(["key CTRL+V", "key PAGEDOWN"])) == ["key CTRL+V", "key PAGEDOWN"]
    narrow = UIGrammarTokenizer(TextActions(("key K",), keys=("ENTER", "F5")), text_tokenizer)
    assert narrow.decode(narrow.encode(["key F5"])) == ["key F5"]
    with pytest.raises(InvalidActionError, match="keys"):
        narrow.encode(["key TAB"])
    loaded = load_tokenizer(narrow.save(tmp_path / "narrow"))
    assert isinstance(loaded, UIGrammarTokenizer) and loaded.spec == narrow.spec


def test_grammar_shorthand_expands_to_every_form() -> None:
    assert expand_template("scroll up|down [X Y]") == [
        ["scroll", "up"],
        ["scroll", "up", "X", "Y"],
        ["scroll", "down"],
        ["scroll", "down", "X", "Y"],
    ]
    assert expand_template('type "TEXT"') == [["type", '"TEXT"']]
