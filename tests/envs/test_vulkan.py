"""Choosing the Vulkan driver for SAPIEN: the user's choice, then the private lavapipe, then the system's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gea.envs import vulkan
from gea.errors import MissingDependencyError


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No driver chosen by variables, no system drivers; returns the private lavapipe folder (empty)."""
    for variable in vulkan.ICD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(vulkan, "SYSTEM_ICD_DIRS", (str(tmp_path / "system"),))
    folder = tmp_path / "lavapipe"
    monkeypatch.setenv(vulkan.LAVAPIPE_DIR_VARIABLE, str(folder))
    return folder


def test_users_driver_wins(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_environment.mkdir()
    (clean_environment / vulkan.ICD_FILE).write_text("{}")
    monkeypatch.setenv("VK_DRIVER_FILES", "/opt/my_icd.json")
    assert vulkan.configure_vulkan() == "VK_DRIVER_FILES=/opt/my_icd.json"
    assert "VK_ICD_FILENAMES" not in os.environ


def test_private_lavapipe_is_selected(clean_environment: Path) -> None:
    clean_environment.mkdir()
    manifest = clean_environment / vulkan.ICD_FILE
    manifest.write_text("{}")
    assert vulkan.configure_vulkan() == str(manifest)
    assert os.environ["VK_ICD_FILENAMES"] == str(manifest)


def test_system_drivers_are_left_to_the_loader(clean_environment: Path, tmp_path: Path) -> None:
    system = tmp_path / "system"
    system.mkdir()
    (system / "lvp_icd.x86_64.json").write_text("{}")
    assert vulkan.configure_vulkan() == str(system / "lvp_icd.x86_64.json")
    assert "VK_ICD_FILENAMES" not in os.environ


def test_no_driver_names_the_fix(clean_environment: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"no Vulkan driver found .*scripts/install_lavapipe\.sh"):
        vulkan.configure_vulkan()


def test_default_folder_is_inside_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vulkan.LAVAPIPE_DIR_VARIABLE, raising=False)
    assert vulkan.lavapipe_dir() == Path(sys.prefix) / "lavapipe"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("vk::createInstanceUnique: ErrorIncompatibleDriver", True),
        ('Failed to find a supported physical device "cpu"', True),
        ("failed to find a rendering device", True),
        ("index out of range", False),
    ],
)
def test_vulkan_failures_are_recognized(message: str, expected: bool) -> None:
    assert vulkan.is_vulkan_failure(RuntimeError(message)) is expected
