"""The UI action grammar: parsing, formatting, grid geometry, and totality on arbitrary strings."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gea.envs.ui_grammar import (
    GRAMMAR,
    Click,
    KeyPress,
    ParseError,
    Scroll,
    TypeText,
    UIAction,
    Wait,
    cell_center,
    cell_of,
    format_action,
    parse_action,
)
from gea.spec import UI_KEYS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("click 3 4", Click(3, 4)),
        ("  CLICK\t0   49 ", Click(0, 49)),
        ('type "hello world"', TypeText("hello world")),
        (r'type "say \"hi\" \\ bye"', TypeText('say "hi" \\ bye')),
        ("key enter", KeyPress("ENTER")),
        ("key Ctrl+a", KeyPress("CTRL+A")),
        ("scroll down", Scroll("down")),
        ("scroll UP 10 20", Scroll("up", 10, 20)),
        ("wait", Wait()),
    ],
)
def test_valid_actions(text: str, expected: UIAction) -> None:
    assert parse_action(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "unknown action"),
        ("jump 3 4", "valid actions: click X Y"),
        ("click 3", "'click' needs two integers 0..49"),
        ("click 50 0", "off the 50x50 grid"),
        ("click -1 2", "'click' needs two integers"),
        ("click 1 2 3", "'click' needs two integers"),
        ("click 99999999999999 1", "'click' needs two integers"),
        ("type hello", "double-quoted"),
        ('type ""', "needs some text"),
        ('type "a" "b"', "double-quoted"),
        (r'type "a\n"', "unknown escape"),
        ('type "tab\there"', "printable"),
        ("key F13", "one of ENTER, TAB"),
        ("scroll sideways", "'scroll' takes 'up' or 'down'"),
        ("scroll up 60 1", "off the 50x50 grid"),
        ("wait now", "takes no arguments"),
    ],
)
def test_invalid_actions_explain_the_fix(text: str, fragment: str) -> None:
    result = parse_action(text)
    assert isinstance(result, ParseError)
    assert fragment in result.message


def test_non_string_is_a_parse_error() -> None:
    result = parse_action(12)
    assert isinstance(result, ParseError) and "must be a string" in result.message


def test_grid_size_is_respected() -> None:
    assert parse_action("click 9 9", grid=10) == Click(9, 9)
    assert isinstance(parse_action("click 10 9", grid=10), ParseError)


def test_keys_come_from_the_action_spec() -> None:
    keys = ("ENTER", "F5")
    assert parse_action("key f5", keys=keys) == KeyPress("F5")
    result = parse_action("key TAB", keys=keys)
    assert isinstance(result, ParseError) and "one of ENTER, F5" in result.message
    assert parse_action("key CTRL+V") == KeyPress("CTRL+V")  # the default: every key of gea.spec.UI_KEYS


def test_grid_geometry() -> None:
    assert cell_center(0, 0, 160, 210) == (1.6, 2.1)
    assert cell_center(49, 49, 100, 100) == (99.0, 99.0)
    assert cell_of(0, 0, 160, 210) == (0, 0)
    assert cell_of(159.9, 209.9, 160, 210) == (49, 49)
    assert cell_of(-5, 500, 160, 210) == (0, 49)
    for x, y in [(0, 0), (7, 31), (49, 49), (25, 0)]:
        assert cell_of(*cell_center(x, y, 160, 210), 160, 210) == (x, y)


def test_grammar_lists_every_form() -> None:
    assert [form.split()[0] for form in GRAMMAR] == ["click", "type", "key", "scroll", "wait"]


_cells = st.integers(min_value=0, max_value=49)
_actions = st.one_of(
    st.builds(Click, _cells, _cells),
    st.builds(TypeText, st.text(st.characters(codec="ascii", categories=("L", "N", "P", "S", "Zs")), min_size=1)),
    st.builds(KeyPress, st.sampled_from(UI_KEYS)),
    st.builds(Scroll, st.sampled_from(["up", "down"])),
    st.builds(Scroll, st.sampled_from(["up", "down"]), _cells, _cells),
    st.just(Wait()),
)


@given(_actions)
def test_format_then_parse_round_trips(action: UIAction) -> None:
    assert parse_action(format_action(action)) == action


@given(st.text(max_size=300))
def test_parse_is_total_on_arbitrary_text(text: str) -> None:
    result = parse_action(text)
    assert isinstance(result, (Click, TypeText, KeyPress, Scroll, Wait, ParseError))
    if not isinstance(result, ParseError):
        assert parse_action(format_action(result)) == result


@given(st.sampled_from(["click ", "type ", "key ", "scroll ", "wait "]), st.text(max_size=80))
def test_parse_is_total_after_a_valid_verb(verb: str, tail: str) -> None:
    result = parse_action(verb + tail)
    assert isinstance(result, (Click, TypeText, KeyPress, Scroll, Wait, ParseError))
    if isinstance(result, ParseError):
        assert result.message
