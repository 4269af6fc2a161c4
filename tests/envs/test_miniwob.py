"""MiniWoB++ in real headless Chromium: contract, grammar actions, errors, hangs and process cleanup."""

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gea.envs
from gea.envs.adapters.miniwob_tasks import MINIWOB_TASKS
from gea.envs.ui_grammar import GRAMMAR, cell_of
from gea.errors import InvalidActionError
from gea.spec import TextActions

pytest.importorskip("miniwob", reason="miniwob is not installed (pip install 'gea[ui]')")
pytest.importorskip("selenium", reason="selenium is not installed (pip install 'gea[ui]')")
psutil = pytest.importorskip("psutil", reason="psutil is not installed (pip install 'gea[ui]')")


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture(scope="module")
def env() -> Iterator[Any]:
    environment = gea.envs.make("miniwob:click-test-2")
    yield environment
    environment.close()


def _cell_of_button(env: Any, label: str) -> tuple[int, int]:
    page = env.unwrapped
    button = next(e for e in page.dom.subtree_elements if e.tag == "button" and e.text == label)
    return cell_of(button.left + button.width / 2, button.top + button.height / 2, 160, 210)


def test_specs_are_registered_without_starting_a_browser() -> None:
    ids = gea.envs.list_envs(contains="miniwob:")
    assert len(ids) >= 20 and len(ids) == len(MINIWOB_TASKS)
    spec = gea.envs.spec("miniwob:click-test-2")
    assert spec.domain == "ui" and spec.extra == "ui"
    assert isinstance(spec.action, TextActions) and spec.action.grammar == GRAMMAR and spec.action.grid == 50


def test_grammar_actions_solve_click_test_2_and_bad_actions_are_no_ops(env: Any) -> None:
    obs, info = env.reset(seed=5)
    assert info["success"] is False
    assert obs["image"].shape == (210, 160, 3) and obs["image"].dtype == np.uint8
    target = obs["instruction"].removeprefix("Click button ").rstrip(".")
    assert target in ("ONE", "TWO")
    for bad in ("jump 3 4", "click 70 2", 'type "unterminated'):
        obs, reward, terminated, truncated, info = env.step(bad)
        assert info["action_error"] and info["success"] is False
        assert (reward, terminated, truncated) == (0.0, False, False)
    x, y = _cell_of_button(env, target)
    obs, reward, terminated, _, info = env.step(f"click {x} {y}")
    assert terminated and info["success"] is True and reward > 0 and "action_error" not in info


def test_wrong_click_fails_and_wrong_type_raises(env: Any) -> None:
    obs, _ = env.reset(seed=6)
    other = "TWO" if obs["instruction"].endswith("ONE.") else "ONE"
    _, reward, terminated, _, info = env.step("click {} {}".format(*_cell_of_button(env, other)))
    assert terminated and info["success"] is False and reward < 0
    env.reset(seed=6)
    with pytest.raises(InvalidActionError, match="expected a text action"):
        env.step(3)


def test_check_env_and_seeding(env: Any) -> None:
    check_env(env.unwrapped, skip_render_check=True)
    first, _ = env.reset(seed=11)
    again, _ = env.reset(seed=11)
    np.testing.assert_array_equal(first["image"], again["image"])
    assert first["instruction"] == again["instruction"]
    np.testing.assert_array_equal(env.render(), again["image"])


@pytest.mark.parametrize("task", ["enter-text", "click-checkboxes"])
def test_other_tasks_follow_the_contract_and_close_cleanly(task: str) -> None:
    chromium_temp = set(Path(tempfile.gettempdir()).glob("org.chromium.Chromium.*"))
    env = gea.envs.make(f"miniwob:{task}", image_size=64)
    first, info = env.reset(seed=2)
    assert first["image"].shape == (64, 64, 3) and first["instruction"] and info["success"] is False
    again, _ = env.reset(seed=2)
    np.testing.assert_array_equal(first["image"], again["image"])
    for action in ("click 25 20", 'type "abc"', "key TAB", "scroll down", "wait"):
        _, _, terminated, truncated, info = env.step(action)
        assert isinstance(info["success"], bool) and "action_error" not in info
        if terminated or truncated:
            break
    pids = env.unwrapped.browser_pids()
    assert len(pids) >= 2  # chromedriver and chromium at least
    env.close()
    env.close()
    assert _alive(pids) == []
    assert set(Path(tempfile.gettempdir()).glob("org.chromium.Chromium.*")) <= chromium_temp  # nothing left in /tmp


def test_hung_browser_is_detected_and_restarted() -> None:
    env = gea.envs.make("miniwob:click-test", command_timeout_s=2)
    page = env.unwrapped
    env.reset(seed=0)
    old = page.browser_pids()
    chromium = psutil.Process(old[0]).children()[0]  # chromedriver's browser process
    chromium.suspend()
    _, reward, terminated, truncated, info = env.step("click 25 25")
    assert truncated and not terminated and reward == 0.0
    assert info["browser_restarted"] is True and "stopped answering" in info["action_error"]
    assert _alive(old) == [] and page.restarts == 1
    obs, _ = env.reset(seed=0)
    assert obs["instruction"] == "Click the button."
    env.close()


def test_browser_is_killed_at_interpreter_exit() -> None:
    code = (
        "import gea.envs; env = gea.envs.make('miniwob:click-test'); env.reset(seed=0); "
        "print(*env.unwrapped.browser_pids())"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) >= 2
    assert _alive(pids) == []
