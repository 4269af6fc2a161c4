"""MiniWoB++ web tasks in headless Chromium, driven by the text UI grammar (``click X Y``, ``type "..."``, ...).

Ids ``miniwob:<task>``. The observation is a screenshot of the 160x210 task area plus the task's utterance;
the action is one string of ``gea.envs.ui_grammar`` (taps on a 50x50 grid over the task area). A
malformed action is a no-op that sets ``info["action_error"]``. ``info["success"]`` is MiniWoB's raw
reward > 0 once the page ends the episode. Experts read ``env.unwrapped.dom`` (a ``miniwob.dom.DOMElement``
tree in task-area pixels), ``utterance`` and ``fields``.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from gea.envs.contract import ImageObservationEnv, clean_instruction
from gea.envs.images import resize
from gea.envs.registry import register
from gea.envs.ui_grammar import (
    GRAMMAR,
    Click,
    KeyPress,
    ParseError,
    Scroll,
    TypeText,
    UIAction,
    cell_center,
    parse_action,
)
from gea.errors import GEAError
from gea.spec import EmbodimentSpec, TextActions

if TYPE_CHECKING:
    from miniwob.dom import DOMElement

    from gea.envs.adapters.chromium import ChromiumSession

TASK_WIDTH, TASK_HEIGHT = 160, 210
"""Size in pixels of the MiniWoB task area (utterance on top, widgets below)."""

MINIWOB_TASKS: tuple[str, ...] = (
    "click-test",
    "click-test-2",
    "click-button",
    "click-button-sequence",
    "click-link",
    "click-dialog",
    "click-dialog-2",
    "click-checkboxes",
    "click-option",
    "click-tab",
    "click-tab-2",
    "click-collapsible",
    "click-widget",
    "enter-text",
    "enter-text-2",
    "enter-password",
    "focus-text",
    "focus-text-2",
    "login-user",
    "choose-list",
    "navigate-tree",
    "simple-arithmetic",
    "unicode-test",
    "use-spinner",
)
"""Registered MiniWoB++ tasks: short click/type/key tasks that a 50x50 tap grid can solve."""

MINIWOB_KEY_NAMES: dict[str, str] = {
    "ENTER": "<Enter>",
    "TAB": "<Tab>",
    "BACKSPACE": "<Backspace>",
    "DELETE": "<Delete>",
    "ESCAPE": "<Escape>",
    "SPACE": "<Space>",
    "UP": "<ArrowUp>",
    "DOWN": "<ArrowDown>",
    "LEFT": "<ArrowLeft>",
    "RIGHT": "<ArrowRight>",
    "PAGEUP": "<PageUp>",
    "PAGEDOWN": "<PageDown>",
    "HOME": "<Home>",
    "END": "<End>",
    "CTRL+A": "C-a",
    "CTRL+C": "C-c",
    "CTRL+V": "C-v",
    "CTRL+X": "C-x",
}
"""Grammar key names (``gea.spec.UI_KEYS``) -> MiniWoB key syntax."""

DEFAULT_UI_IMAGE_SIZE = (TASK_HEIGHT, TASK_WIDTH)
"""Screenshots keep the task area's own pixels by default, so small text stays readable."""

_READY_POLLS, _READY_SLEEP_S = 40, 0.05


class BrowserError(GEAError, RuntimeError):
    """The browser stopped answering and restarting it did not help."""


class MiniWoBEnv(ImageObservationEnv):
    """One MiniWoB++ task page in its own headless Chromium; actions are UI-grammar strings."""

    def __init__(
        self,
        embodiment: EmbodimentSpec,
        task: str,
        image_size: int | tuple[int, int] = DEFAULT_UI_IMAGE_SIZE,
        render_mode: str | None = "rgb_array",
        time_limit_s: float | None = None,
        command_timeout_s: float = 30.0,
        data_mode: str = "train",
        chrome_binary: str | None = None,
        chromedriver: str | None = None,
    ) -> None:
        from miniwob.action import ActionSpaceConfig, ActionTypes
        from miniwob.fields import get_field_extractor
        from miniwob.selenium_instance import HTML_DIR

        super().__init__(embodiment, image_size, None, render_mode)
        if not (HTML_DIR / "miniwob" / f"{task}.html").is_file():
            raise ValueError(f"{task!r} is not a MiniWoB++ task of the installed miniwob package")
        if not isinstance(embodiment.action, TextActions):
            raise TypeError(f"{embodiment.id}: MiniWoB needs TextActions, got {type(embodiment.action).__name__}")
        unknown = [key for key in embodiment.action.keys if key not in MINIWOB_KEY_NAMES]
        if unknown:
            raise ValueError(
                f"{embodiment.id}: MiniWoB cannot press {unknown}; keys must be among {list(MINIWOB_KEY_NAMES)}"
            )
        self.task = task
        self.grid = embodiment.action.grid
        self.keys = embodiment.action.keys
        self.url = (HTML_DIR / "miniwob" / f"{task}.html").as_uri()
        self.time_limit_s = time_limit_s
        self.data_mode = data_mode
        self._browser_kwargs: dict[str, Any] = {
            "command_timeout_s": command_timeout_s,
            "binary": chrome_binary,
            "driver": chromedriver,
        }
        self._field_extractor = get_field_extractor(task)
        self._action_types = [ActionTypes.NONE, ActionTypes.CLICK_COORDS, ActionTypes.SCROLL_UP_COORDS]
        self._action_types += [ActionTypes.SCROLL_DOWN_COORDS, ActionTypes.PRESS_KEY, ActionTypes.TYPE_TEXT]
        self._config = ActionSpaceConfig(
            action_types=self._action_types,
            screen_width=TASK_WIDTH,
            screen_height=TASK_HEIGHT,
            allowed_keys=tuple(MINIWOB_KEY_NAMES[key] for key in self.keys),
            text_max_len=embodiment.action.max_length,
        )
        self.utterance = ""
        self.dom: DOMElement | None = None
        self.restarts = 0
        self._session: ChromiumSession | None = None
        self._start_browser()

    # -- what experts and tests read -------------------------------------------------------------

    @property
    def fields(self) -> list[tuple[str, str]]:
        """Key/value pairs MiniWoB extracts from the utterance (e.g. ``username``); empty if it cannot."""
        try:
            return list(self._field_extractor(self.utterance))
        except ValueError:
            return []

    @property
    def driver(self) -> Any:
        """The Selenium WebDriver of the page (privileged access for experts and debugging)."""
        assert self._session is not None, "the environment is closed"
        return self._session.driver

    def browser_pids(self) -> list[int]:
        """Process ids of this env's chromedriver and Chromium processes that are alive."""
        return self._session.pids() if self._session is not None else []

    def to_miniwob_action(self, action: UIAction) -> dict[str, Any]:
        """MiniWoB's native action dict for a parsed grammar action (``Wait`` becomes ``NONE``)."""
        from miniwob.action import ActionTypes

        native: dict[str, Any] = {"action_type": self._action_types.index(ActionTypes.NONE)}
        if isinstance(action, Click):
            native["action_type"] = self._action_types.index(ActionTypes.CLICK_COORDS)
            native["coords"] = np.array(cell_center(action.x, action.y, TASK_WIDTH, TASK_HEIGHT, self.grid))
        elif isinstance(action, Scroll):
            kind = ActionTypes.SCROLL_UP_COORDS if action.direction == "up" else ActionTypes.SCROLL_DOWN_COORDS
            native["action_type"] = self._action_types.index(kind)
            x, y = (self.grid // 2, self.grid // 2) if action.x is None or action.y is None else (action.x, action.y)
            native["coords"] = np.array(cell_center(x, y, TASK_WIDTH, TASK_HEIGHT, self.grid))
        elif isinstance(action, KeyPress):
            native["action_type"] = self._action_types.index(ActionTypes.PRESS_KEY)
            native["key"] = self.keys.index(action.key)
        elif isinstance(action, TypeText):
            native["action_type"] = self._action_types.index(ActionTypes.TYPE_TEXT)
            native["text"] = action.text
        return native

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a new episode; the page's random generator is seeded from ``seed``."""
        from gea.envs.adapters.chromium import BROWSER_ERRORS

        super().reset(seed=seed)
        page_seed = int(self.np_random.integers(2**31 - 1))
        try:
            self._begin_episode(page_seed)
        except BROWSER_ERRORS as first:
            self._start_browser()
            try:
                self._begin_episode(page_seed)
            except BROWSER_ERRORS as second:
                raise BrowserError(
                    f"miniwob:{self.task}: the browser failed twice on reset ({first!r}, then {second!r}); "
                    "check that chromium and chromedriver have the same version and run headless"
                ) from second
        return self._observation(), {"success": False, "task": self.task}

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Parse and perform one grammar action; a malformed one is a no-op with ``info["action_error"]``."""
        from miniwob.selenium_actions import execute_action_on_chromedriver

        from gea.envs.adapters.chromium import ACTION_ERRORS, BROWSER_ERRORS

        parsed = parse_action(action, self.grid, self.keys)
        info: dict[str, Any] = {"task": self.task}
        if isinstance(parsed, ParseError):
            info["action_error"] = parsed.message
        try:
            metadata = self._metadata()
            if not isinstance(parsed, ParseError) and not metadata["done"]:
                try:
                    execute_action_on_chromedriver(self.to_miniwob_action(parsed), [], self._config, self.driver)
                except ACTION_ERRORS as error:
                    info["action_error"] = f"the browser rejected {action!r}: {type(error).__name__}"
                metadata = self._metadata()
            self._read_page()
        except BROWSER_ERRORS as error:
            self._start_browser()
            info["action_error"] = f"the browser stopped answering ({type(error).__name__}); restarted it"
            info["browser_restarted"] = True
            return self._observation(), 0.0, False, True, {**info, "success": False}
        done = bool(metadata["done"])
        raw_reward = float(metadata["raw_reward"]) if done else 0.0
        info.update(success=done and raw_reward > 0, raw_reward=raw_reward, reason=metadata.get("reason"))
        return self._observation(), float(metadata["env_reward"]) if done else 0.0, done, False, info

    def close(self) -> None:
        """Kill the browser processes; idempotent."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- browser plumbing ------------------------------------------------------------------------

    def _start_browser(self) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        from gea.envs.adapters.chromium import ChromiumSession

        if self._session is not None:
            self._session.close()
            self.restarts += 1
        self._session = ChromiumSession(**self._browser_kwargs)
        self.driver.get(self.url)
        WebDriverWait(self.driver, 10).until(expected_conditions.presence_of_element_located((By.ID, "query")))
        self._inner_size = tuple(self.driver.execute_script("return [window.innerWidth, window.innerHeight];"))
        if self._inner_size[0] < TASK_WIDTH or self._inner_size[1] < TASK_HEIGHT:
            raise BrowserError(f"the browser viewport {self._inner_size} is smaller than the task area")

    def _begin_episode(self, page_seed: int) -> None:
        limit = "" if self.time_limit_s is None else f"core.EPISODE_MAX_TIME = {int(self.time_limit_s * 1000)};"
        self.driver.execute_script(
            f"core.endEpisode(0); Math.seedrandom({page_seed}); core.setDataMode({self.data_mode!r}); "
            f"{limit} core.startEpisodeReal();"
        )
        for _ in range(_READY_POLLS):
            if self.driver.execute_script("return WOB_TASK_READY;"):
                break
            time.sleep(_READY_SLEEP_S)
        self._read_page()

    def _metadata(self) -> dict[str, Any]:
        return self.driver.execute_script(
            "return {done: WOB_DONE_GLOBAL, env_reward: WOB_REWARD_GLOBAL, "
            "raw_reward: WOB_RAW_REWARD_GLOBAL, reason: WOB_REWARD_REASON};"
        )

    def _read_page(self) -> None:
        from miniwob.dom import DOMElement
        from miniwob.screenshot import get_screenshot

        utterance, dom = self.driver.execute_script("return [core.getUtterance(), core.getDOMInfo()];")
        self.utterance = str(utterance["utterance"] if isinstance(utterance, dict) else utterance)
        self.dom = DOMElement(dom)
        width, height = self._inner_size
        shot = get_screenshot(self.driver, width, height, TASK_WIDTH, TASK_HEIGHT)
        self._last_image = resize(np.asarray(shot, dtype=np.uint8), self.image_size)

    def _observation(self) -> dict[str, Any]:
        return {"image": self._last_image, "instruction": clean_instruction(self.utterance)}


def _spec(task: str) -> EmbodimentSpec:
    return EmbodimentSpec(
        id=f"miniwob:{task}",
        domain="ui",
        action=TextActions(grammar=GRAMMAR, grid=50),
        description=(
            "a web agent that uses a mouse and keyboard on a 160x210-pixel web page; taps are cells of a "
            "50x50 grid over the page, column then row, 0 at the top-left"
        ),
        simulator="MiniWoB++ in headless Chromium",
        camera="screenshot of the task area (instruction at the top)",
        max_episode_steps=20,
        extra="ui",
        tags=("miniwob",),
    )


def _build(embodiment: EmbodimentSpec, task: str, **kwargs: Any) -> MiniWoBEnv:
    return MiniWoBEnv(embodiment, task, **kwargs)


for _task in MINIWOB_TASKS:
    _embodiment = _spec(_task)
    register(_embodiment, requires=("miniwob", "selenium", "psutil"))(functools.partial(_build, _embodiment, _task))
