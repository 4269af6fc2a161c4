"""The text grammar of UI actions (``click X Y``, ``type "hi"``, ``key ENTER``, ``scroll down``, ``wait``).

Pure Python and total: ``parse_action`` never raises; it returns a parsed action or a ``ParseError`` that
says what is wrong and what a valid action looks like. Taps use integer cells of a ``grid`` x ``grid``
lattice laid over the screen (GEA uses 50 x 50); ``cell_center`` and ``cell_of`` convert to pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gea.spec import UI_KEYS

DEFAULT_GRID = 50

GRAMMAR: tuple[str, ...] = ("click X Y", 'type "TEXT"', "key K", "scroll up|down [X Y]", "wait")
"""The action forms, as shown to the agent; X and Y are grid cells, 0 is the left/top edge."""

_MAX_DIGITS = 6  # longer numbers are rejected before int() so huge inputs stay cheap
_NUMBER = rf"[0-9]{{1,{_MAX_DIGITS}}}"
_CELL = re.compile(rf"({_NUMBER})\s+({_NUMBER})")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_SCROLL = re.compile(rf"(up|down)(?:\s+({_NUMBER})\s+({_NUMBER}))?", re.IGNORECASE)


@dataclass(frozen=True)
class Click:
    """Tap/click the centre of grid cell (x, y)."""

    x: int
    y: int


@dataclass(frozen=True)
class TypeText:
    """Type ``text`` into the focused element."""

    text: str


@dataclass(frozen=True)
class KeyPress:
    """Press one key (a name from the embodiment's ``TextActions.keys``)."""

    key: str


@dataclass(frozen=True)
class Scroll:
    """Scroll ``up`` or ``down`` at grid cell (x, y), or at the screen centre when they are None."""

    direction: Literal["up", "down"]
    x: int | None = None
    y: int | None = None


@dataclass(frozen=True)
class Wait:
    """Do nothing for one step."""


UIAction = Click | TypeText | KeyPress | Scroll | Wait


@dataclass(frozen=True)
class ParseError:
    """Why a string is not a valid action; ``message`` names the valid form."""

    message: str


def parse_action(text: object, grid: int = DEFAULT_GRID, keys: tuple[str, ...] = UI_KEYS) -> UIAction | ParseError:
    """Parse one action string; never raises. Keywords and key names (out of ``keys``) are case-insensitive."""
    if not isinstance(text, str):
        return ParseError(f"an action must be a string in the grammar {list(GRAMMAR)}, got {type(text).__name__}")
    stripped = text.strip()
    words = stripped.split(maxsplit=1)
    verb = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if verb == "click":
        return _parse_click(rest, grid)
    if verb == "type":
        return _parse_type(rest)
    if verb == "key":
        return _parse_key(rest, keys)
    if verb == "scroll":
        return _parse_scroll(rest, grid)
    if verb == "wait":
        return Wait() if not rest else ParseError(f"'wait' takes no arguments, got {_show(rest)}")
    return ParseError(f"unknown action {_show(stripped)}; valid actions: {', '.join(GRAMMAR)}")


def format_action(action: UIAction) -> str:
    """The canonical string of an action; ``parse_action(format_action(a)) == a``."""
    if isinstance(action, Click):
        return f"click {action.x} {action.y}"
    if isinstance(action, TypeText):
        escaped = action.text.replace("\\", "\\\\").replace('"', '\\"')
        return f'type "{escaped}"'
    if isinstance(action, KeyPress):
        return f"key {action.key}"
    if isinstance(action, Scroll):
        where = "" if action.x is None or action.y is None else f" {action.x} {action.y}"
        return f"scroll {action.direction}{where}"
    return "wait"


def cell_center(x: int, y: int, width: float, height: float, grid: int = DEFAULT_GRID) -> tuple[float, float]:
    """Pixel coordinates (left, top) of the centre of grid cell (x, y) on a ``width`` x ``height`` screen."""
    return ((x + 0.5) * width / grid, (y + 0.5) * height / grid)


def cell_of(left: float, top: float, width: float, height: float, grid: int = DEFAULT_GRID) -> tuple[int, int]:
    """The grid cell containing pixel (left, top); points off the screen map to the nearest edge cell."""
    column = min(max(int(left * grid // width), 0), grid - 1)
    row = min(max(int(top * grid // height), 0), grid - 1)
    return (column, row)


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _cell(x_text: str, y_text: str, grid: int, form: str) -> tuple[int, int] | ParseError:
    x, y = int(x_text), int(y_text)
    if not (0 <= x < grid and 0 <= y < grid):
        return ParseError(f"cell ({x}, {y}) is off the {grid}x{grid} grid; use integers 0..{grid - 1}: {form}")
    return (x, y)


def _parse_click(rest: str, grid: int) -> Click | ParseError:
    match = _CELL.fullmatch(rest)
    if match is None:
        return ParseError(f"'click' needs two integers 0..{grid - 1} (column, row): 'click X Y', got {_show(rest)}")
    cell = _cell(match.group(1), match.group(2), grid, "'click X Y'")
    return cell if isinstance(cell, ParseError) else Click(*cell)


def _parse_type(rest: str) -> TypeText | ParseError:
    match = _QUOTED.fullmatch(rest)
    if match is None:
        return ParseError(f"'type' needs one double-quoted string: 'type \"TEXT\"', got {_show(rest)}")
    chars: list[str] = []
    body = iter(match.group(1))
    for char in body:
        if char == "\\":
            escaped = next(body)  # the regex guarantees a character after each backslash
            if escaped not in '"\\':
                return ParseError(f"unknown escape \\{escaped!s} in 'type'; only \\\" and \\\\ are allowed")
            char = escaped
        if not char.isprintable() or ord(char) > 0xFFFF:
            return ParseError(f"'type' text may only hold printable characters, got {char!r}")
        chars.append(char)
    if not chars:
        return ParseError("'type' needs some text: 'type \"TEXT\"'")
    return TypeText("".join(chars))


def _parse_key(rest: str, keys: tuple[str, ...]) -> KeyPress | ParseError:
    name = rest.upper()
    if name not in keys:
        return ParseError(f"unknown key {_show(rest)}; 'key K' takes one of {', '.join(keys)}")
    return KeyPress(name)


def _parse_scroll(rest: str, grid: int) -> Scroll | ParseError:
    match = _SCROLL.fullmatch(rest)
    if match is None:
        return ParseError(
            f"'scroll' takes 'up' or 'down' and an optional cell: 'scroll up|down [X Y]', got {_show(rest)}"
        )
    direction: Literal["up", "down"] = "up" if match.group(1).lower() == "up" else "down"
    if match.group(2) is None:
        return Scroll(direction)
    cell = _cell(match.group(2), match.group(3), grid, "'scroll up|down X Y'")
    return cell if isinstance(cell, ParseError) else Scroll(direction, *cell)
