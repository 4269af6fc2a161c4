"""A headless Chromium driven by Selenium, whose processes are always cleaned up.

The browser runs with a fresh profile directory, background networking off, and a bounded time per
WebDriver command, so a hung page surfaces as an exception instead of blocking forever. ``close()``,
garbage collection and interpreter exit all kill the chromedriver/chromium process tree and delete the
profile. Imported only when a UI environment is built (it imports selenium).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
import weakref

import psutil
import urllib3
from selenium import webdriver
from selenium.common.exceptions import (
    ElementNotInteractableException,
    InvalidArgumentException,
    JavascriptException,
    MoveTargetOutOfBoundsException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service

from gea.errors import MissingDependencyError

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)

ACTION_ERRORS: tuple[type[Exception], ...] = (
    ElementNotInteractableException,
    InvalidArgumentException,
    JavascriptException,
    MoveTargetOutOfBoundsException,
)
"""Selenium errors that reject one action but leave the browser usable."""

BROWSER_ERRORS: tuple[type[Exception], ...] = (WebDriverException, urllib3.exceptions.HTTPError, OSError)
"""Errors that mean the browser or chromedriver crashed or stopped answering (timeouts included)."""

_KILL_WAIT_S = 5.0
_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_INSTALL_HINT = (
    "Install a Chromium and its matching chromedriver (Debian/Ubuntu: apt-get install chromium chromium-driver), "
    "or point MINIWOB_CHROME_BINARY and MINIWOB_CHROMEDRIVER at them."
)


def find_browser(binary: str | None = None, driver: str | None = None) -> tuple[str, str]:
    """Paths of the Chromium binary and chromedriver: arguments, then the MINIWOB_* variables, then PATH."""
    binary = binary or os.environ.get("MINIWOB_CHROME_BINARY") or _first_on_path(_BROWSER_NAMES)
    driver = driver or os.environ.get("MINIWOB_CHROMEDRIVER") or shutil.which("chromedriver")
    if not binary or not driver:
        missing = "a Chromium browser" if not binary else "chromedriver"
        raise MissingDependencyError(f"UI environments need {missing}, which was not found. {_INSTALL_HINT}")
    return binary, driver


def _first_on_path(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


class ChromiumSession:
    """One headless Chromium under chromedriver; ``driver`` is the Selenium ``WebDriver``."""

    def __init__(
        self,
        window_size: tuple[int, int] = (500, 400),
        command_timeout_s: float = 30.0,
        binary: str | None = None,
        driver: str | None = None,
    ) -> None:
        binary_path, driver_path = find_browser(binary, driver)
        self.profile_dir = tempfile.mkdtemp(prefix="gea-chromium-")
        scratch = os.path.join(self.profile_dir, "tmp")
        os.mkdir(scratch)
        options = webdriver.ChromeOptions()
        options.binary_location = binary_path
        for flag in (*CHROMIUM_FLAGS, f"--window-size={window_size[0]},{window_size[1]}"):
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile_dir}")
        # Chromium's own temporary files (its shared memory, with --disable-dev-shm-usage) go inside the profile,
        # which close() deletes; with the system TMPDIR every browser left an org.chromium.Chromium.* folder.
        service = Service(executable_path=driver_path, env={**os.environ, "TMPDIR": scratch})
        try:
            self.driver = webdriver.Chrome(service=service, options=options)
        except Exception:
            _kill_tree(_service_pid(service), self.profile_dir)
            raise
        self.driver.command_executor.client_config.timeout = command_timeout_s
        self.driver.set_script_timeout(command_timeout_s)
        self.driver.set_page_load_timeout(command_timeout_s)
        self._driver_pid = _service_pid(service)
        self._finalizer = weakref.finalize(self, _kill_tree, self._driver_pid, self.profile_dir)

    def pids(self) -> list[int]:
        """Process ids of chromedriver and every browser process it started that are still alive."""
        return [process.pid for process in _tree(self._driver_pid, self.profile_dir) if _alive(process)]

    @property
    def closed(self) -> bool:
        """Whether ``close()`` has run."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Kill chromedriver and the browser and delete the profile; safe to call twice, even on a hung browser."""
        self._finalizer()


def _service_pid(service: Service) -> int | None:
    process = getattr(service, "process", None)
    return process.pid if process is not None else None


def _tree(driver_pid: int | None, profile_dir: str) -> list[psutil.Process]:
    """chromedriver, its descendants, and any process whose command line names our profile directory."""
    found: dict[int, psutil.Process] = {}
    if driver_pid is not None:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(driver_pid)
            found[root.pid] = root
            found.update((child.pid, child) for child in root.children(recursive=True))
    marker = f"--user-data-dir={profile_dir}"
    for process in psutil.process_iter(["cmdline"]):
        if marker in (process.info.get("cmdline") or ()):
            found.setdefault(process.pid, process)
    return list(found.values())


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_tree(driver_pid: int | None, profile_dir: str) -> None:
    """SIGKILL every process of one session (browser first, chromedriver last), reap them, delete the profile."""
    processes = _tree(driver_pid, profile_dir)
    for process in sorted(processes, key=lambda p: p.pid == driver_pid):
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + _KILL_WAIT_S
    while any(_alive(process) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.02)
    for process in processes:  # reap chromedriver, our own child, so that no zombie is left
        if process.pid == driver_pid:
            with contextlib.suppress(psutil.Error):
                process.wait(timeout=1)
    shutil.rmtree(profile_dir, ignore_errors=True)
