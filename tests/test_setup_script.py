"""scripts/setup.sh: valid bash, pip failures stop it loudly, and it picks the torch build it says it picks.

The install logic is exercised with a stand-in for the venv's python that records its arguments and answers like
pip (a mock of pip only, to test the script's own decisions); the real install runs in CI (`bash .ci/run`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SETUP = Path(__file__).resolve().parents[1] / "scripts" / "setup.sh"
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
if [ "$1" = "-c" ]; then
  [ -n "${FAKE_INSTALLED:-}" ] && echo "$FAKE_INSTALLED" && exit 0
  exit 1
fi
if [[ "$*" == *--dry-run* ]]; then
  printf '{"install": [{"metadata": {"version": "%s"}}]}' "$FAKE_OFFERED"
  exit 0
fi
if [[ -n "${FAKE_FAIL:-}" && "$*" == *"$FAKE_FAIL"* ]]; then
  echo "WARNING: Location 'file:///somewhere' is ignored"
  echo "ERROR: No matching distribution found for $FAKE_FAIL"
  exit 1
fi
echo "WARNING: Location 'file:///somewhere' is ignored"
"""


def _run(tmp_path: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    inherited = {key: value for key, value in os.environ.items() if key != "TORCH_INDEX_URL"}
    environment = {**inherited, "VENV_PYTHON": str(fake), "FAKE_LOG": str(tmp_path / "calls"), **env}
    script = f"source {SETUP}; {command}"
    return subprocess.run(["bash", "-c", script], env=environment, capture_output=True, text=True, timeout=60)


def _pip_calls(tmp_path: Path) -> list[str]:
    calls = (tmp_path / "calls").read_text().splitlines()
    return [call for call in calls if call.startswith("-m pip install") and "--dry-run" not in call]


def test_the_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(SETUP)], check=True)


def test_a_failed_pip_install_stops_the_script_with_pips_message(tmp_path: Path) -> None:
    done = _run(tmp_path, 'pip_install no-such-package; echo "went on"', FAKE_FAIL="no-such-package")
    assert done.returncode == 1
    assert "went on" not in done.stdout
    assert "ERROR: No matching distribution found for no-such-package" in done.stdout
    assert "setup: error: `pip install no-such-package` failed (exit 1)" in done.stderr
    assert "WARNING: Location" not in done.stdout + done.stderr  # the noise is still filtered


def test_a_successful_pip_install_is_quiet(tmp_path: Path) -> None:
    done = _run(tmp_path, 'pip_install fine-package; echo "went on"')
    assert done.returncode == 0 and done.stdout == "went on\n" and done.stderr == ""


@pytest.mark.parametrize(
    ("env", "expected", "says"),
    [
        ({"FAKE_OFFERED": "2.13.0+cpu"}, "torch==2.13.0", "the CPU build, from pip's configured sources"),
        (
            {"FAKE_OFFERED": "2.13.0"},
            "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
            "not the CPU build",
        ),
        ({"FAKE_OFFERED": ""}, "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu", "(none)"),
        (
            {"FAKE_OFFERED": "2.13.0+cpu", "TORCH_INDEX_URL": "https://example.org/whl/cu126"},
            "torch==2.13.0 --index-url https://example.org/whl/cu126",
            "from TORCH_INDEX_URL=https://example.org/whl/cu126",
        ),
    ],
)
def test_torch_comes_from_the_cpu_build_unless_told_otherwise(
    tmp_path: Path, env: dict[str, str], expected: str, says: str
) -> None:
    done = _run(tmp_path, "install_torch", **env)
    assert done.returncode == 0, done.stderr
    assert says in done.stdout
    [call] = _pip_calls(tmp_path)
    assert call.endswith(expected), call


def test_an_installed_torch_of_the_right_version_is_kept(tmp_path: Path) -> None:
    done = _run(tmp_path, "install_torch", FAKE_INSTALLED="2.13.0+cpu", FAKE_OFFERED="2.13.0")
    assert done.returncode == 0 and "torch 2.13.0+cpu is already installed" in done.stdout
    assert _pip_calls(tmp_path) == []
