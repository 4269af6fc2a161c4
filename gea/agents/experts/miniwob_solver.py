"""Scripted MiniWoB++ experts: read the page's DOM from ``env.unwrapped`` and emit UI-grammar strings.

Each solver is a generator over one episode; it re-reads the live DOM after every action it yields, so
multi-step tasks (tabs, trees, accordions) see the page as it is now. Tasks without a solver, or a
solver that has run out of actions, answer ``wait``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym

from gea.agents.experts import register_expert
from gea.envs.adapters.miniwob_tasks import TASK_HEIGHT, TASK_WIDTH, MiniWoBEnv
from gea.envs.ui_grammar import Click, KeyPress, TypeText, Wait, cell_of, format_action

Element = Any  # miniwob.dom.DOMElement; typed loosely so that this module imports without miniwob
Solver = Callable[[MiniWoBEnv], Iterator[str]]

_SOLVERS: dict[str, Solver] = {}
_SETTLE_STEPS = 6
_MAX_SPINNER_CLICKS = 20


def solver(*tasks: str) -> Callable[[Solver], Solver]:
    """Decorator: register a solver generator for the given MiniWoB task names."""

    def decorator(function: Solver) -> Solver:
        for task in tasks:
            _SOLVERS[task] = function
        return function

    return decorator


def solved_tasks() -> tuple[str, ...]:
    """MiniWoB task names that have a scripted solver."""
    return tuple(sorted(_SOLVERS))


class MiniWoBSolver:
    """Expert for one ``miniwob:<task>`` env: replays its task's solver generator."""

    def __init__(self, env_id: str) -> None:
        self.task = env_id.split(":", 1)[1]
        self._plan: Iterator[str] = iter(())

    def reset(self, env: gym.Env[Any, Any]) -> None:
        """Start a new plan for the page that ``env`` now shows."""
        page = env.unwrapped
        if not isinstance(page, MiniWoBEnv):
            raise TypeError(f"MiniWoBSolver needs a MiniWoB env, got {type(page).__name__}")
        task_solver = _SOLVERS.get(self.task)
        self._plan = task_solver(page) if task_solver is not None else iter(())

    def act(self, env: gym.Env[Any, Any], observation: dict[str, Any]) -> str:
        """The next grammar action of the plan, or ``wait`` when it has none."""
        return next(self._plan, format_action(Wait()))


@register_expert("miniwob:*")
def make_miniwob_solver(env_id: str) -> MiniWoBSolver:
    """Expert factory for every ``miniwob:`` id."""
    return MiniWoBSolver(env_id)


# -- page helpers ----------------------------------------------------------------------------------


def click(page: MiniWoBEnv, element: Element) -> str:
    """``click X Y`` on the grid cell under the centre of ``element``."""
    left = element.left + element.width / 2
    top = element.top + element.height / 2
    return format_action(Click(*cell_of(left, top, TASK_WIDTH, TASK_HEIGHT, page.grid)))


def type_text(text: str) -> str:
    """``type "text"`` with quoting."""
    return format_action(TypeText(text))


def elements(page: MiniWoBEnv) -> list[Element]:
    """Every visible element of the task area, in document order."""
    return list(page.dom.subtree_elements) if page.dom is not None else []


def find(page: MiniWoBEnv, predicate: Callable[[Element], bool]) -> Element | None:
    """The first visible element that satisfies ``predicate``."""
    return next((element for element in elements(page) if predicate(element)), None)


def field(page: MiniWoBEnv, key: str) -> str:
    """The value of one of MiniWoB's utterance fields, or ``""``."""
    return dict(page.fields).get(key, "")


def _text_is(tag: str, text: str) -> Callable[[Element], bool]:
    return lambda element: element.tag == tag and element.text == text


def _labelled_input(page: MiniWoBEnv, tag: str, label: str) -> Element | None:
    for element in elements(page):
        if element.tag == "label" and any(child.text == label for child in element.children):
            return next((child for child in element.children if child.tag == tag), None)
    return None


def _submit(page: MiniWoBEnv) -> Element | None:
    return find(page, lambda e: e.tag == "button" and (e.id == "subbtn" or (e.text or "").lower() == "submit"))


def _settle(page: MiniWoBEnv, element_of: Callable[[], Element | None]) -> Iterator[str]:
    """Wait until an animated element stops moving (it has the same box two steps running)."""
    previous = None
    for _ in range(_SETTLE_STEPS):
        element = element_of()
        box = None if element is None else (element.left, element.top, element.width, element.height)
        if box is not None and box == previous:
            return
        previous = box
        yield format_action(Wait())


# -- solvers ---------------------------------------------------------------------------------------


@solver("click-test")
def _click_test(page: MiniWoBEnv) -> Iterator[str]:
    button = find(page, lambda e: e.tag == "button")
    if button is not None:
        yield click(page, button)


@solver("click-test-2", "click-button", "unicode-test")
def _click_named_button(page: MiniWoBEnv) -> Iterator[str]:
    button = find(page, _text_is("button", field(page, "target")))
    if button is not None:
        yield click(page, button)


@solver("click-button-sequence")
def _click_button_sequence(page: MiniWoBEnv) -> Iterator[str]:
    for name in ("ONE", "TWO"):
        button = find(page, _text_is("button", name))
        if button is not None:
            yield click(page, button)


@solver("click-link")
def _click_link(page: MiniWoBEnv) -> Iterator[str]:
    link = find(page, lambda e: "alink" in e.classes and e.text == field(page, "target"))
    if link is not None:
        yield click(page, link)


@solver("click-dialog")
def _click_dialog(page: MiniWoBEnv) -> Iterator[str]:
    close = find(page, lambda e: e.tag == "button" and "titlebar-close" in e.classes)
    if close is not None:
        yield click(page, close)


@solver("click-dialog-2")
def _click_dialog_2(page: MiniWoBEnv) -> Iterator[str]:
    target = field(page, "target")
    if target.lower() == "x":
        yield from _click_dialog(page)
        return
    button = find(page, _text_is("button", target))
    if button is not None:
        yield click(page, button)


@solver("click-checkboxes", "click-option")
def _click_labelled_boxes(page: MiniWoBEnv) -> Iterator[str]:
    tag = "input_radio" if page.task == "click-option" else "input_checkbox"
    targets = [value for key, value in page.fields if key.startswith("target")]
    for target in targets:
        box = _labelled_input(page, tag, target)
        if box is not None and not box.value:
            yield click(page, box)
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


@solver("click-tab")
def _click_tab(page: MiniWoBEnv) -> Iterator[str]:
    tab = find(page, _text_is("a", f"Tab #{field(page, 'target')}"))
    if tab is not None:
        yield click(page, tab)


@solver("click-tab-2")
def _click_tab_2(page: MiniWoBEnv) -> Iterator[str]:
    match = re.search(r'link "(.*)"', page.utterance)
    target = match.group(1) if match else ""
    tried: set[str] = set()
    while True:
        link = find(page, lambda e: "alink" in e.classes and e.text == target)
        if link is not None:
            yield click(page, link)
            return
        tab = find(page, lambda e: e.tag == "a" and (e.text or "").startswith("Tab #") and e.text not in tried)
        if tab is None:
            return
        tried.add(tab.text)
        yield click(page, tab)


@solver("click-collapsible")
def _click_collapsible(page: MiniWoBEnv) -> Iterator[str]:
    header = find(page, lambda e: e.tag == "h3")
    if header is None:
        return
    yield click(page, header)
    yield from _settle(page, lambda: _submit(page))
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


_WIDGET_TAGS = {
    "radio": ("input_radio",),
    "checkbox": ("input_checkbox",),
    "text": ("input_input", "input_text"),
    "textarea": ("textarea",),
    "button": ("button",),
}


@solver("click-widget")
def _click_widget(page: MiniWoBEnv) -> Iterator[str]:
    tags = _WIDGET_TAGS.get(field(page, "target"), ())
    widget = find(page, lambda e: e.tag in tags)
    if widget is not None:
        yield click(page, widget)


def _text_inputs(page: MiniWoBEnv) -> list[Element]:
    return [e for e in elements(page) if e.tag in ("input_text", "input_password", "textarea")]


@solver("enter-text", "enter-text-2")
def _enter_text(page: MiniWoBEnv) -> Iterator[str]:
    if page.task == "enter-text":
        text = field(page, "target")
    else:
        text = field(page, "text").lower() if field(page, "case") == "lower" else field(page, "text").upper()
    inputs = _text_inputs(page)
    if inputs:
        yield click(page, inputs[0])
        yield type_text(text)
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


@solver("enter-password")
def _enter_password(page: MiniWoBEnv) -> Iterator[str]:
    for box in _text_inputs(page):
        yield click(page, box)
        yield type_text(field(page, "target"))
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


@solver("login-user")
def _login_user(page: MiniWoBEnv) -> Iterator[str]:
    for key in ("username", "password"):
        box = find(page, lambda e, key=key: e.id == key)
        if box is not None:
            yield click(page, box)
            yield type_text(field(page, key))
    submit = _submit(page) or find(page, _text_is("button", "Login"))
    if submit is not None:
        yield click(page, submit)


@solver("focus-text", "focus-text-2")
def _focus_text(page: MiniWoBEnv) -> Iterator[str]:
    index = int(field(page, "target") or 1) - 1
    inputs = _text_inputs(page)
    if 0 <= index < len(inputs):
        yield click(page, inputs[index])


@solver("simple-arithmetic")
def _simple_arithmetic(page: MiniWoBEnv) -> Iterator[str]:
    problem = find(page, lambda e: e.id == "math-problem")
    match = re.fullmatch(r"\s*(-?\d+)\s*([-+x*])\s*(-?\d+)\s*=\s*", (problem.text or "") if problem else "")
    answer_box = find(page, lambda e: e.id == "math-answer")
    if match is None or answer_box is None:
        return
    left, operator, right = int(match.group(1)), match.group(2), int(match.group(3))
    answer = left + right if operator == "+" else left - right if operator == "-" else left * right
    yield click(page, answer_box)
    yield type_text(str(answer))
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


@solver("use-spinner")
def _use_spinner(page: MiniWoBEnv) -> Iterator[str]:
    target = int(field(page, "target") or 0)
    for _ in range(_MAX_SPINNER_CLICKS):  # the page blocks typing, so click the arrows
        spinner = find(page, lambda e: e.id == "spinner")
        if spinner is None or not str(spinner.value).lstrip("-").isdigit():
            return
        value = int(str(spinner.value))
        if value == target:
            break
        arrow = "ui-spinner-up" if value < target else "ui-spinner-down"
        button = find(page, lambda e, arrow=arrow: e.tag == "a" and arrow in e.classes)
        if button is None:
            return
        yield click(page, button)
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


@solver("choose-list")
def _choose_list(page: MiniWoBEnv) -> Iterator[str]:
    select = find(page, lambda e: e.tag == "select")
    if select is None:
        return
    yield click(page, select)
    yield type_text(field(page, "target"))
    yield format_action(KeyPress("ENTER"))
    submit = _submit(page)
    if submit is not None:
        yield click(page, submit)


@solver("navigate-tree")
def _navigate_tree(page: MiniWoBEnv) -> Iterator[str]:
    target = field(page, "target")
    opened: set[int] = set()
    while True:
        hit = find(page, lambda e: e.tag == "span" and e.text == target)
        if hit is not None:
            yield click(page, hit)
            return
        folder = find(page, lambda e: e.tag == "span" and "folder" in e.classes and e.ref not in opened)
        if folder is None:
            return
        opened.add(folder.ref)
        yield click(page, folder)
