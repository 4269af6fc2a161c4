"""A Vulkan driver for SAPIEN (ManiSkill's renderer), or an error that says how to install one.

SAPIEN draws only through Vulkan, even to build a scene. Without a GPU the driver is Mesa's lavapipe (software
Vulkan), and SAPIEN needs a newer one than Debian 12's Mesa 22 (``Failed to find a supported physical device
"cpu"``). Installing Mesa 25 from bookworm-backports system-wide would also upgrade the OpenGL/EGL Mesa libraries
that MuJoCo, MiniWorld and Chromium render with, so ``scripts/install_lavapipe.sh`` unpacks only the backports'
lavapipe into a private folder (by default ``<virtualenv>/lavapipe``, i.e. ``sys.prefix``) and writes a Vulkan
driver manifest (ICD file) there. ``configure_vulkan`` points the Vulkan loader of this process at that manifest;
nothing else on the machine changes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gea.errors import MissingDependencyError

LAVAPIPE_DIR_VARIABLE = "GEA_LAVAPIPE_DIR"
"""Environment variable naming the private lavapipe folder (default ``<sys.prefix>/lavapipe``)."""

ICD_FILE = "lvp_icd.json"
"""The driver manifest ``scripts/install_lavapipe.sh`` writes into the lavapipe folder (written last)."""

ICD_VARIABLES = ("VK_ICD_FILENAMES", "VK_DRIVER_FILES")
"""Variables by which a user chooses Vulkan drivers; when one is set it wins."""

SYSTEM_ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")

INSTALL_HINT = (
    "ManiSkill renders through Vulkan (SAPIEN); without a GPU it needs Mesa >= 23's software driver lavapipe. "
    "On Debian 12 run `bash scripts/install_lavapipe.sh` from a gea checkout (or `bash scripts/setup.sh`): it unpacks "
    "bookworm-backports' lavapipe into <virtualenv>/lavapipe and leaves the system's OpenGL Mesa untouched; "
    f"set {LAVAPIPE_DIR_VARIABLE} if you put it elsewhere. On other systems install a Vulkan driver "
    "(Ubuntu 24.04: apt-get install mesa-vulkan-drivers), or set VK_ICD_FILENAMES to its ICD JSON file"
)

VULKAN_FAILURES = (
    "createInstance",
    "ErrorIncompatibleDriver",
    "failed to find a rendering device",
    "Failed to find a supported physical device",
    "does not support Vulkan",
)
"""Fragments of SAPIEN's errors when no usable Vulkan device exists."""


def lavapipe_dir() -> Path:
    """The private lavapipe folder: ``$GEA_LAVAPIPE_DIR``, else ``<sys.prefix>/lavapipe``."""
    return Path(os.environ.get(LAVAPIPE_DIR_VARIABLE) or Path(sys.prefix) / "lavapipe")


def system_icd_files() -> list[Path]:
    """Vulkan driver manifests installed system-wide (the Vulkan loader's own search folders)."""
    return sorted(path for folder in SYSTEM_ICD_DIRS for path in Path(folder).glob("*.json"))


def configure_vulkan() -> str:
    """Make a Vulkan driver visible to this process before SAPIEN starts, and say which one.

    A driver the user chose (``VK_ICD_FILENAMES``/``VK_DRIVER_FILES``) wins; then the private lavapipe, which is
    selected by setting ``VK_ICD_FILENAMES`` here (inherited by the processes this one starts); then the system's
    drivers. Without any, raises ``MissingDependencyError`` naming the fix.
    """
    for variable in ICD_VARIABLES:
        if os.environ.get(variable):
            return f"{variable}={os.environ[variable]}"
    private = lavapipe_dir() / ICD_FILE
    if private.is_file():
        os.environ["VK_ICD_FILENAMES"] = str(private)
        return str(private)
    system = system_icd_files()
    if system:
        return ", ".join(str(path) for path in system)
    raise MissingDependencyError(
        f"no Vulkan driver found (looked for {private} and {', '.join(SYSTEM_ICD_DIRS)}). {INSTALL_HINT}"
    )


def is_vulkan_failure(error: BaseException) -> bool:
    """Whether ``error`` is SAPIEN failing to find a usable Vulkan device."""
    return any(fragment in str(error) for fragment in VULKAN_FAILURES)


def vulkan_error(error: BaseException, driver: str) -> MissingDependencyError:
    """The error to raise when SAPIEN found no usable Vulkan device with ``driver``."""
    return MissingDependencyError(
        f"SAPIEN could not start Vulkan with the driver(s) {driver}: {error}. "
        f"Debian 12's own Mesa 22 lavapipe is too old for SAPIEN. {INSTALL_HINT}"
    )
