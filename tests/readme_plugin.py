"""Test helper: the README's example plugin module and a runner of the ``gea`` console script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GEA = Path(sys.executable).with_name("gea")


def readme_plugin() -> str:
    """The source of the README's example plugin module (``my_corridor.py``)."""
    match = re.search(r"```python\n(# my_corridor\.py.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert match is not None, "README.md lost its plugin example (a python block starting with '# my_corridor.py')"
    return match.group(1)


def gea_env(extra_path: str = "") -> dict[str, str]:
    """This process's environment with ``extra_path`` in front of PYTHONPATH."""
    path = os.pathsep.join(part for part in (extra_path, os.environ.get("PYTHONPATH", "")) if part)
    return {**os.environ, "PYTHONPATH": path}


def gea_command(args: list[str]) -> list[str]:
    """The ``gea`` console script with ``args``; its search path starts at its own folder, not the current one."""
    assert GEA.is_file(), f"the gea console script is not installed next to {sys.executable}"
    return [str(GEA), *args]


def run_gea(args: list[str], cwd: Path, extra_path: str = "", **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``gea args`` in ``cwd`` and capture its output."""
    return subprocess.run(
        gea_command(args), cwd=cwd, env=gea_env(extra_path), capture_output=True, text=True, timeout=300, **kwargs
    )
